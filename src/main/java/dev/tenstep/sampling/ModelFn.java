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
}
