package dev.tenstep.model.unet;

import ai.djl.ndarray.NDArray;

import java.util.List;

/** A UNet down block ({@link CrossAttnDownBlock2D} or {@link DownBlock2D}). */
public sealed interface DownBlock permits CrossAttnDownBlock2D, DownBlock2D {
    /**
     * @param x       [B, in, H, W]
     * @param tembAct SiLU of the time embedding [B, T]
     * @param context [B, Lk, D] (ignored by blocks without attention)
     * @return the block output ([B, out, H/2, W/2] with a downsampler, else [B, out, H, W]) and the
     *         states it contributes to the skip connections, all attached to x's manager
     */
    Output forward(NDArray x, NDArray tembAct, NDArray context);

    /** Number of skip states the block contributes (resnets, plus one for the downsampler). */
    int skipCount();

    /** @param hidden the block output (also the last entry of {@code skips}) */
    record Output(NDArray hidden, List<NDArray> skips) {
    }
}
