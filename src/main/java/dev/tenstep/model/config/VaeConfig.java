package dev.tenstep.model.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.List;

/**
 * {@code vae/config.json} (diffusers {@code AutoencoderKL}). The image is
 * {@code 2^(levels - 1)} times the latent per side, levels = {@code block_out_channels.length}.
 *
 * @param scalingFactor latents of the pipeline are {@code scaling_factor} times the VAE's (SD 1.x/2.x 0.18215,
 *                      SDXL 0.13025; absent: 0.18215)
 * @param forceUpcast   {@code force_upcast} (absent: true, diffusers' default): the VAE must run in float32 when the
 *                      rest runs in half precision (SDXL's VAE overflows in fp16; diffusers
 *                      {@code StableDiffusionXLPipeline} upcasts it)
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record VaeConfig(
        int inChannels,
        int outChannels,
        int latentChannels,
        int[] blockOutChannels,
        int layersPerBlock,
        int normNumGroups,
        String actFn,
        double scalingFactor,
        int sampleSize,
        boolean forceUpcast) {

    /** Builds and validates a config from the JSON keys' values (null = absent). */
    public static VaeConfig of(Integer inChannels, Integer outChannels, Integer latentChannels, int[] blockOutChannels,
            Integer layersPerBlock, Integer normNumGroups, String actFn, Double scalingFactor, Integer sampleSize,
            List<String> downBlockTypes, List<String> upBlockTypes, Boolean forceUpcast, Double shiftFactor, Boolean useQuantConv) {
        return fromJson(inChannels, outChannels, latentChannels, blockOutChannels, layersPerBlock, normNumGroups, actFn,
                scalingFactor, sampleSize, downBlockTypes, upBlockTypes, forceUpcast, shiftFactor, useQuantConv, null, null);
    }

    @JsonCreator
    static VaeConfig fromJson(
            @JsonProperty("in_channels") Integer inChannels,
            @JsonProperty("out_channels") Integer outChannels,
            @JsonProperty("latent_channels") Integer latentChannels,
            @JsonProperty("block_out_channels") int[] blockOutChannels,
            @JsonProperty("layers_per_block") Integer layersPerBlock,
            @JsonProperty("norm_num_groups") Integer normNumGroups,
            @JsonProperty("act_fn") String actFn,
            @JsonProperty("scaling_factor") Double scalingFactor,
            @JsonProperty("sample_size") Integer sampleSize,
            @JsonProperty("down_block_types") List<String> downBlockTypes,
            @JsonProperty("up_block_types") List<String> upBlockTypes,
            @JsonProperty("force_upcast") Boolean forceUpcast,
            @JsonProperty("shift_factor") Double shiftFactor,
            @JsonProperty("use_quant_conv") Boolean useQuantConv,
            @JsonProperty("use_post_quant_conv") Boolean usePostQuantConv,
            @JsonProperty("mid_block_add_attention") Boolean midBlockAddAttention) {
        int[] blocks = Configs.or(blockOutChannels, new int[] {64});
        if (blocks.length == 0) {
            throw new IllegalArgumentException("block_out_channels is empty");
        }
        int groups = Configs.or(normNumGroups, 32);
        if (groups <= 0) {
            throw new IllegalArgumentException("norm_num_groups " + groups + " is not positive");
        }
        for (int c : blocks) {
            if (c <= 0 || c % groups != 0) {
                throw new IllegalArgumentException("block_out_channels " + c + " not divisible by norm_num_groups " + groups);
            }
        }
        if (downBlockTypes != null) {
            for (String t : downBlockTypes) {
                if (!t.equals("DownEncoderBlock2D")) {
                    throw new UnsupportedOperationException("VAE down_block_types entry '" + t
                            + "' is not supported (DownEncoderBlock2D)");
                }
            }
            if (downBlockTypes.size() != blocks.length) {
                throw new IllegalArgumentException("down_block_types has " + downBlockTypes.size()
                        + " entries but block_out_channels " + blocks.length);
            }
        }
        if (upBlockTypes != null) {
            for (String t : upBlockTypes) {
                if (!t.equals("UpDecoderBlock2D")) {
                    throw new UnsupportedOperationException("VAE up_block_types entry '" + t
                            + "' is not supported (UpDecoderBlock2D)");
                }
            }
            if (upBlockTypes.size() != blocks.length) {
                throw new IllegalArgumentException("up_block_types has " + upBlockTypes.size()
                        + " entries but block_out_channels " + blocks.length);
            }
        }
        if (shiftFactor != null && shiftFactor != 0.0) {
            throw new UnsupportedOperationException("VAE shift_factor is not supported (SD3/Flux VAE)");
        }
        if (useQuantConv != null && !useQuantConv) {
            throw new UnsupportedOperationException("VAE use_quant_conv false (no quant_conv) is not supported");
        }
        if (usePostQuantConv != null && !usePostQuantConv) {
            throw new UnsupportedOperationException("VAE use_post_quant_conv false (no post_quant_conv) is not supported");
        }
        if (midBlockAddAttention != null && !midBlockAddAttention) {
            throw new UnsupportedOperationException("VAE mid_block_add_attention false (mid block without attention) is not supported");
        }
        if (scalingFactor != null && !(scalingFactor > 0 && Double.isFinite(scalingFactor))) {
            throw new IllegalArgumentException("scaling_factor must be a positive number, got " + scalingFactor);
        }
        if (actFn != null && !actFn.equals("silu")) {
            throw new UnsupportedOperationException("VAE act_fn '" + actFn + "' is not supported (silu)");
        }
        return new VaeConfig(Configs.or(inChannels, 3), Configs.or(outChannels, 3), Configs.or(latentChannels, 4),
                blocks, Configs.or(layersPerBlock, 1), groups, "silu",
                Configs.or(scalingFactor, 0.18215), Configs.or(sampleSize, 32), Configs.or(forceUpcast, true));
    }

    /** Image pixels per latent pixel per side: {@code 2^(levels - 1)}. */
    public int downscale() {
        return 1 << (blockOutChannels.length - 1);
    }
}
