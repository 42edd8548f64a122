package dev.tenstep.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Adam with decoupled weight decay (AdamW; Kingma and Ba 2015, Loshchilov and Hutter 2019), over
 * the gradients libtorch's autograd left on the parameters, with the gradients' global L2 norm
 * clipped first (torch {@code clip_grad_norm_}). For every parameter p with gradient g, at step t:
 * {@code m = b1 m + (1 - b1) g}, {@code v = b2 v + (1 - b2) g^2},
 * {@code p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + lr wd p} (decay on matrices
 * and kernels only, as is usual: not on biases, norms or embeddings).
 *
 * <p>Updates run outside autograd (after the {@link ai.djl.training.GradientCollector} closed), in
 * place on the parameters; the gradients are zeroed afterwards. The moments are part of a
 * checkpoint ({@link #state}, {@link #restore}), so a resumed run continues exactly.
 */
public final class AdamW {
    private final NDManager manager;
    private final Map<String, NDArray> params;
    private final Map<String, NDArray> m = new LinkedHashMap<>();
    private final Map<String, NDArray> v = new LinkedHashMap<>();
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final double maxGradNorm;
    private long t;

    /**
     * @param manager     owns the moment arrays
     * @param params      the parameters to update, by name (updated in place)
     * @param weightDecay decoupled decay per unit learning rate (0 = plain Adam)
     * @param maxGradNorm clip the global gradient norm to this (0 = no clipping)
     */
    public AdamW(NDManager manager, Map<String, NDArray> params, double beta1, double beta2, double eps,
                 double weightDecay, double maxGradNorm) {
        this.manager = manager;
        this.params = new LinkedHashMap<>(params);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.maxGradNorm = maxGradNorm;
        for (Map.Entry<String, NDArray> e : this.params.entrySet()) {
            m.put(e.getKey(), manager.zeros(e.getValue().getShape()));
            v.put(e.getKey(), manager.zeros(e.getValue().getShape()));
        }
    }

    /** Steps taken so far. */
    public long steps() {
        return t;
    }

    /**
     * One update with learning rate {@code lr}, then zeroes the gradients.
     *
     * @return the global gradient norm before clipping
     * @throws IllegalStateException if a parameter has no gradient (it took no part in the loss)
     * @throws NonFiniteGradientException if a gradient is not finite (nothing is updated)
     */
    public float step(double lr) {
        try (NDManager scratch = manager.newSubManager()) {
            Map<String, NDArray> grads = new LinkedHashMap<>();
            double sq = 0;
            for (Map.Entry<String, NDArray> e : params.entrySet()) {
                NDArray g = e.getValue().getGradient();
                if (g == null) {
                    throw new IllegalStateException("parameter " + e.getKey() + " has no gradient");
                }
                g.attach(scratch);
                grads.put(e.getKey(), g);
                sq += g.square().sum().getFloat();
            }
            float norm = (float) Math.sqrt(sq);
            if (!Float.isFinite(norm)) {
                // a diverged step: stop before it poisons the weights, naming where it starts
                for (Map.Entry<String, NDArray> e : grads.entrySet()) {
                    float s = e.getValue().square().sum().getFloat();
                    if (!Float.isFinite(s)) {
                        throw new NonFiniteGradientException("non-finite gradient of " + e.getKey() + " at optimizer step "
                                + (t + 1) + " (lower the learning rate)");
                    }
                }
                throw new NonFiniteGradientException("non-finite gradient norm at optimizer step " + (t + 1));
            }
            t++;
            float scale = maxGradNorm > 0 && norm > maxGradNorm ? (float) (maxGradNorm / (norm + 1e-6)) : 1f;
            float bc1 = (float) (1 - Math.pow(beta1, t));
            float bc2 = (float) (1 - Math.pow(beta2, t));
            for (Map.Entry<String, NDArray> e : params.entrySet()) {
                String name = e.getKey();
                NDArray p = e.getValue();
                NDArray g = scale == 1f ? grads.get(name) : grads.get(name).mul(scale);
                NDArray mm = m.get(name);
                NDArray vv = v.get(name);
                mm.muli((float) beta1).addi(g.mul((float) (1 - beta1)));
                vv.muli((float) beta2).addi(g.square().muli((float) (1 - beta2)));
                // DJL attaches a result to its first operand's manager: temporaries of the moments and the
                // parameters would land in their long-lived manager and pile up (~80 MB a step for the small UNet
                // until the OOM killer stopped a run), so each is moved to this step's scratch manager
                NDArray mHat = mm.div(bc1);
                mHat.attach(scratch);
                NDArray vHat = vv.div(bc2);
                vHat.attach(scratch);
                NDArray update = mHat.divi(vHat.sqrt().addi((float) eps)).muli((float) lr);
                if (weightDecay > 0 && decays(name, p)) {
                    NDArray decay = p.mul((float) (lr * weightDecay));
                    decay.attach(scratch);
                    update.addi(decay);
                }
                p.subi(update);
                JniUtils.zeroGrad((PtNDArray) p);
            }
            return norm;
        }
    }

    /** Zeroes every parameter's gradient without updating (after a refused step, before it is recomputed). */
    public void zeroGradients() {
        for (NDArray p : params.values()) {
            JniUtils.zeroGrad((PtNDArray) p);
        }
    }

    /**
     * A step refused because a gradient is not finite: nothing was updated, the step count is unchanged and the
     * gradients are left as they are ({@link #zeroGradients} before recomputing them).
     */
    public static final class NonFiniteGradientException extends IllegalStateException {
        NonFiniteGradientException(String message) {
            super(message);
        }
    }

    /** Matrices and kernels decay; biases, norm affines and embedding tables do not. */
    private static boolean decays(String name, NDArray p) {
        return p.getShape().dimension() >= 2 && !name.contains("embedding");
    }

    /** The moments, as {@code m/NAME} and {@code v/NAME} (to write into a checkpoint). */
    public Map<String, NDArray> state() {
        Map<String, NDArray> s = new LinkedHashMap<>();
        m.forEach((k, a) -> s.put("m/" + k, a));
        v.forEach((k, a) -> s.put("v/" + k, a));
        return s;
    }

    /**
     * Restores the moments and the step count of a checkpoint.
     *
     * @throws IllegalArgumentException if a moment is missing or has another shape
     */
    public void restore(Map<String, NDArray> state, long steps) {
        for (String prefix : List.of("m/", "v/")) {
            Map<String, NDArray> target = prefix.equals("m/") ? m : v;
            for (Map.Entry<String, NDArray> e : target.entrySet()) {
                NDArray saved = state.get(prefix + e.getKey());
                if (saved == null || !saved.getShape().equals(e.getValue().getShape())) {
                    throw new IllegalArgumentException("checkpoint optimizer state lacks " + prefix + e.getKey()
                            + " of shape " + e.getValue().getShape());
                }
                // a libtorch-owned copy, not set(): DJL's set swaps in Java-backed storage
                e.getValue().close();
                e.setValue(Parameters.owned(saved, manager));
            }
        }
        this.t = steps;
    }
}
