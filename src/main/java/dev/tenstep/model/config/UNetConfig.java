package dev.tenstep.model.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;

import java.util.List;
import java.util.Set;

/**
 * {@code unet/config.json} (diffusers {@code UNet2DConditionModel}) for SD 1.x/2.x.
 *
 * <p>diffusers' {@code attention_head_dim} is, for these models, the <b>number of heads</b> (a
 * historical misnomer); it is exposed here as {@link #headsPerBlock} (one entry per down block; up
 * blocks use the list reversed, the mid block the last entry). Features of other UNets (class
 * embeddings, SDXL's {@code addition_embed_type}, ...) are rejected with a clear error.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record UNetConfig(
        int inChannels,
        int outChannels,
        int sampleSize,
        List<String> downBlockTypes,
        List<String> upBlockTypes,
        String midBlockType,
        int[] blockOutChannels,
        int layersPerBlock,
        int[] headsPerBlock,
        int crossAttentionDim,
        int normNumGroups,
        double normEps,
        boolean useLinearProjection,
        boolean upcastAttention,
        boolean flipSinToCos,
        double freqShift,
        int downsamplePadding,
        int timeEmbeddingDim) {

    private static final Set<String> DOWN = Set.of("CrossAttnDownBlock2D", "DownBlock2D");
    private static final Set<String> UP = Set.of("CrossAttnUpBlock2D", "UpBlock2D");

    @JsonCreator
    public static UNetConfig of(
            @JsonProperty("in_channels") Integer inChannels,
            @JsonProperty("out_channels") Integer outChannels,
            @JsonProperty("sample_size") Integer sampleSize,
            @JsonProperty("down_block_types") List<String> downBlockTypes,
            @JsonProperty("up_block_types") List<String> upBlockTypes,
            @JsonProperty("mid_block_type") String midBlockType,
            @JsonProperty("block_out_channels") int[] blockOutChannels,
            @JsonProperty("layers_per_block") JsonNode layersPerBlock,
            @JsonProperty("attention_head_dim") JsonNode attentionHeadDim,
            @JsonProperty("num_attention_heads") JsonNode numAttentionHeads,
            @JsonProperty("cross_attention_dim") JsonNode crossAttentionDim,
            @JsonProperty("norm_num_groups") Integer normNumGroups,
            @JsonProperty("norm_eps") Double normEps,
            @JsonProperty("use_linear_projection") Boolean useLinearProjection,
            @JsonProperty("upcast_attention") Boolean upcastAttention,
            @JsonProperty("flip_sin_to_cos") Boolean flipSinToCos,
            @JsonProperty("freq_shift") Double freqShift,
            @JsonProperty("downsample_padding") Integer downsamplePadding,
            @JsonProperty("time_embedding_dim") Integer timeEmbeddingDim,
            @JsonProperty("class_embed_type") String classEmbedType,
            @JsonProperty("num_class_embeds") Integer numClassEmbeds,
            @JsonProperty("addition_embed_type") String additionEmbedType,
            @JsonProperty("encoder_hid_dim") Integer encoderHidDim,
            @JsonProperty("time_cond_proj_dim") Integer timeCondProjDim,
            @JsonProperty("time_embedding_type") String timeEmbeddingType,
            @JsonProperty("resnet_time_scale_shift") String resnetTimeScaleShift,
            @JsonProperty("only_cross_attention") JsonNode onlyCrossAttention,
            @JsonProperty("dual_cross_attention") Boolean dualCrossAttention,
            @JsonProperty("transformer_layers_per_block") JsonNode transformerLayersPerBlock,
            @JsonProperty("conv_in_kernel") Integer convInKernel,
            @JsonProperty("conv_out_kernel") Integer convOutKernel,
            @JsonProperty("act_fn") String actFn,
            @JsonProperty("center_input_sample") Boolean centerInputSample,
            @JsonProperty("mid_block_scale_factor") Double midBlockScaleFactor,
            @JsonProperty("resnet_out_scale_factor") Double resnetOutScaleFactor,
            @JsonProperty("time_embedding_act_fn") String timeEmbeddingActFn,
            @JsonProperty("timestep_post_act") String timestepPostAct,
            @JsonProperty("attention_type") String attentionType) {
        unsupported(classEmbedType != null || numClassEmbeds != null, "class embeddings (class_embed_type/num_class_embeds)");
        unsupported(additionEmbedType != null, "addition_embed_type '" + additionEmbedType + "' (SDXL-style conditioning)");
        unsupported(encoderHidDim != null, "encoder_hid_dim");
        unsupported(timeCondProjDim != null, "time_cond_proj_dim (LCM-style guidance embedding)");
        unsupported(timeEmbeddingType != null && !timeEmbeddingType.equals("positional"), "time_embedding_type '" + timeEmbeddingType + "'");
        unsupported(resnetTimeScaleShift != null && !resnetTimeScaleShift.equals("default"), "resnet_time_scale_shift '" + resnetTimeScaleShift + "'");
        unsupported(onlyCrossAttention != null && onlyCrossAttention.asBoolean(false), "only_cross_attention");
        unsupported(Boolean.TRUE.equals(dualCrossAttention), "dual_cross_attention");
        unsupported(transformerLayersPerBlock != null && !(transformerLayersPerBlock.isInt() && transformerLayersPerBlock.asInt() == 1),
                "transformer_layers_per_block other than 1");
        unsupported(convInKernel != null && convInKernel != 3, "conv_in_kernel " + convInKernel);
        unsupported(convOutKernel != null && convOutKernel != 3, "conv_out_kernel " + convOutKernel);
        unsupported(actFn != null && !actFn.equals("silu"), "act_fn '" + actFn + "'");
        unsupported(Boolean.TRUE.equals(centerInputSample), "center_input_sample");
        unsupported(midBlockScaleFactor != null && midBlockScaleFactor != 1.0, "mid_block_scale_factor");
        unsupported(resnetOutScaleFactor != null && resnetOutScaleFactor != 1.0, "resnet_out_scale_factor");
        unsupported(timeEmbeddingActFn != null || timestepPostAct != null, "time_embedding_act_fn/timestep_post_act");
        unsupported(attentionType != null && !attentionType.equals("default"), "attention_type '" + attentionType + "'");
        unsupported(layersPerBlock != null && !layersPerBlock.isInt(), "per-block layers_per_block");
        unsupported(crossAttentionDim != null && !crossAttentionDim.isInt(), "per-block cross_attention_dim");
        unsupported(numAttentionHeads != null && !numAttentionHeads.isNull(), "num_attention_heads (use attention_head_dim)");

        Configs.require(downBlockTypes, "down_block_types");
        Configs.require(upBlockTypes, "up_block_types");
        Configs.require(blockOutChannels, "block_out_channels");
        int levels = blockOutChannels.length;
        if (downBlockTypes.size() != levels || upBlockTypes.size() != levels) {
            throw new IllegalArgumentException("down_block_types/up_block_types must have one entry per block_out_channels entry ("
                    + levels + ")");
        }
        for (String t : downBlockTypes) {
            unsupported(!DOWN.contains(t), "down block type '" + t + "'");
        }
        for (String t : upBlockTypes) {
            unsupported(!UP.contains(t), "up block type '" + t + "'");
        }
        String mid = Configs.or(midBlockType, "UNetMidBlock2DCrossAttn");
        unsupported(!mid.equals("UNetMidBlock2DCrossAttn"), "mid_block_type '" + mid + "'");

        int[] heads = new int[levels];
        JsonNode h = attentionHeadDim == null || attentionHeadDim.isNull() ? null : attentionHeadDim;
        for (int i = 0; i < levels; i++) {
            if (h == null) {
                heads[i] = 8;
            } else if (h.isArray()) {
                if (h.size() != levels) {
                    throw new IllegalArgumentException("attention_head_dim list has " + h.size() + " entries, expected " + levels);
                }
                heads[i] = h.get(i).asInt();
            } else {
                heads[i] = h.asInt();
            }
            if (heads[i] <= 0 || blockOutChannels[i] % heads[i] != 0) {
                throw new IllegalArgumentException("attention_head_dim (number of heads) " + heads[i]
                        + " does not divide block_out_channels " + blockOutChannels[i]);
            }
        }
        int groups = Configs.or(normNumGroups, 32);
        for (int c : blockOutChannels) {
            if (c % groups != 0) {
                throw new IllegalArgumentException("block_out_channels " + c + " not divisible by norm_num_groups " + groups);
            }
        }
        return new UNetConfig(Configs.or(inChannels, 4), Configs.or(outChannels, 4), Configs.or(sampleSize, 64),
                List.copyOf(downBlockTypes), List.copyOf(upBlockTypes), mid, blockOutChannels,
                layersPerBlock == null ? 2 : layersPerBlock.asInt(), heads,
                crossAttentionDim == null ? 1280 : crossAttentionDim.asInt(), groups, Configs.or(normEps, 1e-5),
                Configs.or(useLinearProjection, false), Configs.or(upcastAttention, false), Configs.or(flipSinToCos, true),
                Configs.or(freqShift, 0.0), Configs.or(downsamplePadding, 1),
                Configs.or(timeEmbeddingDim, blockOutChannels[0] * 4));
    }

    private static void unsupported(boolean condition, String what) {
        if (condition) {
            throw new UnsupportedOperationException("unsupported UNet feature: " + what
                    + " (Stable Diffusion 1.x/2.x UNets only)");
        }
    }

    public int levels() {
        return blockOutChannels.length;
    }
}
