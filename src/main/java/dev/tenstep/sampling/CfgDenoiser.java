package dev.tenstep.sampling;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import java.util.Arrays;
import java.util.Objects;
import java.util.function.IntFunction;

/**
 * A {@link Denoiser} built from a UNet forward and classifier-free guidance ({@code docs/samplers.md} section 2;
 * diffusers {@code StableDiffusionPipeline.__call__}):
 * <ol>
 *   <li>{@code z = x / sqrt(1 + sigma^2)};</li>
 *   <li>{@code out = model(cat[z, z], t, context)} with context row 0 = unconditional (negative prompt),
 *       row 1 = conditional;</li>
 *   <li>{@code g = out_u + w * (out_c - out_u)};</li>
 *   <li>epsilon prediction: {@code eps = g}; v prediction: {@code eps = sqrt(abar) g + sqrt(1 - abar) z} with
 *       {@code abar = 1 / (1 + sigma^2)} (the conversion is affine with weights summing to 1 over the two
 *       halves, so applying it after guidance equals applying it per half).</li>
 * </ol>
 * With {@code w == 1} the formula reduces to the conditional output, so only the conditional half is run (batch of 1,
 * context row 1). Any other w, including 0 and values below 1, runs both halves and applies the formula as written, as
 * AUTOMATIC1111 and diffusers do ({@code docs/samplers.md} section 2), so the recorded scale is the one used.
 *
 * <p>A model with added conditioning (SDXL's pooled text embedding and size numbers) gets its per-row array
 * [2, K] with the context, sliced the same way (row 0 unconditional, row 1 conditional; only row 1 when w == 1):
 * {@link ModelFn#apply(NDArray, float, NDArray, NDArray)}.
 *
 * <p>The context and added arrays are borrowed, not owned: the caller keeps them open while sampling and closes them.
 */
public final class CfgDenoiser implements Denoiser {
    private final ModelFn model;
    private final IntFunction<NDArray> contextAtStep;
    private NDArray context;
    /** The added conditioning [2, K] of each step, or null for a model without one. */
    private final IntFunction<NDArray> addedAtStep;
    private NDArray added;
    private final double guidanceScale;
    private final boolean vPrediction;

    /**
     * @param model         the UNet forward
     * @param context       float32 [2, 77, D]: row 0 unconditional / negative prompt, row 1 prompt
     * @param guidanceScale w (diffusers convention; SD default 7.5); w == 1 runs the conditional half only
     * @param vPrediction   true if the model predicts v ({@code prediction_type: v_prediction})
     * @throws IllegalArgumentException if the context is not [2, L, D] or w is not finite
     */
    public CfgDenoiser(ModelFn model, NDArray context, double guidanceScale, boolean vPrediction) {
        this(model, constant(Objects.requireNonNull(context, "context")), guidanceScale, vPrediction);
    }

    /**
     * A denoiser whose context changes during sampling (prompt editing; docs/samplers.md has one context throughout,
     * this is AUTOMATIC1111's per-step conditioning): before step k the sampler's {@link #beginStep} selects
     * {@code contextAtStep.apply(k)}, a [2, L, D] array (L may differ between steps) that the caller keeps open.
     *
     * @throws IllegalArgumentException if step 0's context is not [2, L, D] or w is not finite
     */
    public CfgDenoiser(ModelFn model, IntFunction<NDArray> contextAtStep, double guidanceScale, boolean vPrediction) {
        this(model, contextAtStep, null, guidanceScale, vPrediction);
    }

    /**
     * A denoiser whose model takes added conditioning (SDXL): before step k the sampler's {@link #beginStep} selects
     * {@code contextAtStep.apply(k)} [2, L, D] and {@code addedAtStep.apply(k)} [2, K], both kept open by the caller.
     *
     * @param addedAtStep the added conditioning per step (row 0 unconditional, row 1 conditional), or null for none
     * @throws IllegalArgumentException if step 0's context is not [2, L, D], its added array not [2, K], or w is not
     *                                  finite
     */
    public CfgDenoiser(ModelFn model, IntFunction<NDArray> contextAtStep, IntFunction<NDArray> addedAtStep,
                       double guidanceScale, boolean vPrediction) {
        this.model = Objects.requireNonNull(model, "model");
        this.contextAtStep = Objects.requireNonNull(contextAtStep, "contextAtStep");
        this.context = checkContext(contextAtStep.apply(0));
        this.addedAtStep = addedAtStep;
        this.added = addedAtStep == null ? null : checkAdded(addedAtStep.apply(0));
        if (!Double.isFinite(guidanceScale)) {
            throw new IllegalArgumentException("guidance scale must be finite, got " + guidanceScale);
        }
        this.guidanceScale = guidanceScale;
        this.vPrediction = vPrediction;
    }

    private static IntFunction<NDArray> constant(NDArray context) {
        return k -> context;
    }

    private static NDArray checkContext(NDArray context) {
        long[] cs = Objects.requireNonNull(context, "context").getShape().getShape();
        if (cs.length != 3 || cs[0] != 2) {
            throw new IllegalArgumentException("context must be [2, L, D] (row 0 unconditional, row 1 conditional), got "
                    + Arrays.toString(cs));
        }
        return context;
    }

    private static NDArray checkAdded(NDArray added) {
        long[] s = Objects.requireNonNull(added, "added conditioning").getShape().getShape();
        if (s.length != 2 || s[0] != 2) {
            throw new IllegalArgumentException("added conditioning must be [2, K] (row 0 unconditional, row 1 conditional), "
                    + "got " + Arrays.toString(s));
        }
        return added;
    }

    /** Selects step k's context (and added conditioning). */
    @Override
    public void beginStep(int k) {
        context = checkContext(contextAtStep.apply(k));
        if (addedAtStep != null) {
            added = checkAdded(addedAtStep.apply(k));
        }
    }

    /** As the main constructor, with the prediction type of the noise schedule's config. */
    public CfgDenoiser(ModelFn model, NDArray context, double guidanceScale, NoiseSchedule schedule) {
        this(model, context, guidanceScale, schedule.vPrediction());
    }

    /** The guidance scale w. */
    public double guidanceScale() {
        return guidanceScale;
    }

    /** Whether the unconditional half is evaluated (every w except exactly 1). */
    public boolean guided() {
        return guidanceScale != 1.0;
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException if x is not [1, C, h, w] or sigma is not finite and &gt;= 0
     */
    @Override
    public NDArray eps(NDArray x, double sigma, double timestep) {
        long[] xs = x.getShape().getShape();
        if (xs.length != 4 || xs[0] != 1) {
            throw new IllegalArgumentException("x must be [1, C, h, w], got " + Arrays.toString(xs));
        }
        if (!(sigma >= 0) || !Double.isFinite(sigma)) {
            throw new IllegalArgumentException("sigma must be finite and >= 0, got " + sigma);
        }
        NDManager parent = x.getManager();
        double scale2 = 1.0 + sigma * sigma;
        try (NDManager sub = parent.newSubManager()) {
            NDArray z = x.div((float) Math.sqrt(scale2));
            z.attach(sub);
            NDArray eps;
            if (guided()) {
                NDArray batch = z.concat(z, 0);
                batch.attach(sub);
                NDArray out = model.apply(batch, (float) timestep, context, added);
                out.attach(sub);
                checkShape(out, batch);
                NDArray u = out.get(sub, 0).expandDims(0);
                NDArray c = out.get(sub, 1).expandDims(0);
                u.attach(sub);
                c.attach(sub);
                eps = u.add(c.sub(u).mul((float) guidanceScale));
            } else {
                NDArray cond = context.get(sub, 1).expandDims(0);
                cond.attach(sub);
                NDArray addedCond = null;
                if (added != null) {
                    addedCond = added.get(sub, 1).expandDims(0);
                    addedCond.attach(sub);
                }
                NDArray out = model.apply(z, (float) timestep, cond, addedCond);
                out.attach(sub);
                checkShape(out, z);
                eps = out;
            }
            eps.attach(sub);
            if (vPrediction) {
                double abar = 1.0 / scale2;
                eps = eps.mul((float) Math.sqrt(abar)).add(z.mul((float) Math.sqrt(1.0 - abar)));
                eps.attach(sub);
            }
            eps.attach(parent);
            return eps;
        }
    }

    private static void checkShape(NDArray out, NDArray in) {
        if (!out.getShape().equals(in.getShape())) {
            throw new IllegalStateException("model output shape " + out.getShape() + " differs from its input shape "
                    + in.getShape());
        }
    }
}
