package dev.tenstep.model.unet;

import ai.djl.ndarray.NDArray;

import java.util.List;

/** A UNet up block ({@link CrossAttnUpBlock2D} or {@link UpBlock2D}). */
public sealed interface UpBlock permits CrossAttnUpBlock2D, UpBlock2D {
    /**
     * @param x       [B, prev, H, W]
     * @param skips   the last {@link #skipCount()} skip states of the down path, in the order the down
     *                path produced them (the block consumes them from the end)
     * @param tembAct SiLU of the time embedding [B, T]
     * @param context [B, Lk, D] (ignored by blocks without attention)
     * @param upsampleSize the [H', W'] the upsampler must produce (the next skip's size; 2H x 2W unless
     *                     the latent size is not a multiple of 2^(levels-1)), or null for 2H x 2W
     * @return [B, out, H', W'] with an upsampler, else [B, out, H, W], attached to x's manager
     */
    NDArray forward(NDArray x, List<NDArray> skips, NDArray tembAct, NDArray context, long[] upsampleSize);

    /** Number of skip states consumed (= number of resnets, layers_per_block + 1). */
    int skipCount();
}
