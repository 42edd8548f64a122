package dev.tenstep.sampling;

import ai.djl.ndarray.NDArray;

/**
 * A UNet forward pass: {@code out = unet(z, t, context)} (raw output: eps or v depending on the model's
 * {@code prediction_type}). Source: diffusers {@code UNet2DConditionModel.forward}.
 *
 * <p>Memory: {@link CfgDenoiser} passes a {@code zBatch} that lives in a short-lived sub-manager; create
 * temporaries and the result in {@code zBatch.getManager()} (keep {@code zBatch} on the left of
 * operations, as DJL attaches a result to its left operand's manager), so nothing accumulates in the
 * weights' or the context's manager.
 *
 * <p>Contract: the result is a new float32 array of the input's shape that the caller owns (it will be
 * attached to the caller's manager and closed); inputs must not be modified or closed.
 */
@FunctionalInterface
public interface ModelFn {
    /**
     * @param zBatch  latents in VP ("pipeline") scale, float32 [B, 4, h, w]
     * @param t       the timestep on the training scale [0, T-1], possibly fractional, broadcast to all rows
     * @param context text-encoder hidden states, float32 [B, 77, D], row b conditions latent row b
     * @return the raw UNet output, float32 [B, 4, h, w]
     */
    NDArray apply(NDArray zBatch, float t, NDArray context);

    /**
     * The forward of a model with added per-row conditioning besides the context (SDXL: diffusers'
     * {@code added_cond_kwargs}, the pooled text embedding and the six size numbers, one row per latent row). The
     * default takes none: it refuses an added array and otherwise calls {@link #apply(NDArray, float, NDArray)}.
     *
     * @param added float32 [B, K] (row b conditions latent row b; the model defines the K columns), or null
     * @throws IllegalArgumentException if {@code added} is given to a model that takes none
     */
    default NDArray apply(NDArray zBatch, float t, NDArray context, NDArray added) {
        if (added != null) {
            throw new IllegalArgumentException("this model takes no added conditioning (got " + added.getShape() + ")");
        }
        return apply(zBatch, t, context);
    }
}
