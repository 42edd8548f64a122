package dev.tenstep.model.unet;

import ai.djl.ndarray.NDArray;

/**
 * SDXL's added conditioning of the UNet (diffusers {@code added_cond_kwargs} with {@code addition_embed_type}
 * {@code text_time}), one row per latent row.
 *
 * @param textEmbeds the pooled, projected text embedding of {@code text_encoder_2} [B, text_embeds_dim]
 *                   ({@link dev.tenstep.model.config.UNetConfig#textEmbedsDim})
 * @param timeIds    the micro-conditioning [B, 6]: original height, original width, crop top, crop left, target
 *                   height, target width, in pixels (diffusers {@code _get_add_time_ids})
 */
public record AddedConditioning(NDArray textEmbeds, NDArray timeIds) {

    /**
     * One row of {@code time_ids} (diffusers {@code StableDiffusionXLPipeline._get_add_time_ids}:
     * {@code list(original_size + crops_coords_top_left + target_size)}), each pair in (height, width) or (top, left)
     * order, in pixels.
     *
     * @return {@code [originalH, originalW, cropTop, cropLeft, targetH, targetW]} as floats
     * @throws IllegalArgumentException if a size is not positive or a crop coordinate is negative
     */
    public static float[] timeIds(int originalH, int originalW, int cropTop, int cropLeft, int targetH, int targetW) {
        if (originalH < 1 || originalW < 1 || targetH < 1 || targetW < 1 || cropTop < 0 || cropLeft < 0) {
            throw new IllegalArgumentException("time ids need positive sizes and non-negative crop coordinates, got original "
                    + originalH + "x" + originalW + ", crop " + cropTop + "," + cropLeft + ", target " + targetH + "x" + targetW
                    + " (height x width)");
        }
        return new float[] {originalH, originalW, cropTop, cropLeft, targetH, targetW};
    }
}
