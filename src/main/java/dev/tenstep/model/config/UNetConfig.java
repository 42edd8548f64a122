package dev.tenstep.model.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;

import java.util.List;
import java.util.Set;

/**
 * {@code unet/config.json} (diffusers {@code UNet2DConditionModel}) for SD 1.x/2.x and SDXL.
 *
 * <p>diffusers' {@code attention_head_dim} is, for these models, the <b>number of heads</b> (a
 * historical misnomer); it is exposed here as {@link #headsPerBlock} (one entry per down block; up
 * blocks use the list reversed, the mid block the last entry; the entry of a level without
 * attention, SDXL's first, is unused). {@code transformer_layers_per_block} (an int or one entry
 * per down block; SDXL base: 1, 2, 10) is {@link #transformerLayersPerBlock}, indexed the same way
 * (diffusers {@code unet_2d_condition.py}: up blocks take the list reversed, the mid block its
 * last entry). SDXL's added conditioning ({@code addition_embed_type} {@code text_time}) is
 * {@link #additionEmbedType}, {@link #additionTimeEmbedDim} and
 * {@link #projectionClassEmbeddingsInputDim}. Features of other UNets (class embeddings, other
 * added embeddings, ...) are rejected with a clear error.
 *
 * @param transformerLayersPerBlock transformer blocks in each {@code Transformer2DModel} of down level i
 * @param additionEmbedType         {@code text_time} (SDXL) or null (SD 1.x/2.x: no added embedding)
 * @param additionTimeEmbedDim      sinusoid width per micro-conditioning number ({@code text_time}; else 0)
 * @param projectionClassEmbeddingsInputDim input width of {@code add_embedding}: the pooled text
 *                                  embedding's width + 6 x {@code addition_time_embed_dim} ({@code text_time}; else 0)
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
        int timeEmbeddingDim,
        int[] transformerLayersPerBlock,
        String additionEmbedType,
        int additionTimeEmbedDim,
        int projectionClassEmbeddingsInputDim) {

    /** The {@code addition_embed_type} of SDXL: pooled text embedding and six size numbers. */
    public static final String TEXT_TIME = "text_time";
    /** The number of SDXL micro-conditioning values ({@code time_ids}): original size, crop top-left, target size. */
    public static final int TIME_IDS = 6;

    private static final Set<String> DOWN = Set.of("CrossAttnDownBlock2D", "DownBlock2D");
    private static final Set<String> UP = Set.of("CrossAttnUpBlock2D", "UpBlock2D");

    /** Builds and validates a config from the JSON keys' values (null = absent). */
    public static UNetConfig of(Integer inChannels, Integer outChannels, Integer sampleSize, List<String> downBlockTypes, List<String> upBlockTypes, String midBlockType, int[] blockOutChannels, JsonNode layersPerBlock, JsonNode attentionHeadDim, JsonNode numAttentionHeads, JsonNode crossAttentionDim, Integer normNumGroups, Double normEps, Boolean useLinearProjection, Boolean upcastAttention, Boolean flipSinToCos, Double freqShift, Integer downsamplePadding, Integer timeEmbeddingDim, String classEmbedType, Integer numClassEmbeds, String additionEmbedType, Integer encoderHidDim, Integer timeCondProjDim, String timeEmbeddingType, String resnetTimeScaleShift, JsonNode onlyCrossAttention, Boolean dualCrossAttention, JsonNode transformerLayersPerBlock, Integer convInKernel, Integer convOutKernel, String actFn, Boolean centerInputSample, Double midBlockScaleFactor, Double resnetOutScaleFactor, String timeEmbeddingActFn, String timestepPostAct, String attentionType) {
        return fromJson(inChannels, outChannels, sampleSize, downBlockTypes, upBlockTypes, midBlockType == null ? null : com.fasterxml.jackson.databind.node.TextNode.valueOf(midBlockType), blockOutChannels, layersPerBlock, attentionHeadDim, numAttentionHeads, crossAttentionDim, normNumGroups, normEps, useLinearProjection, upcastAttention, flipSinToCos, freqShift, downsamplePadding, timeEmbeddingDim, classEmbedType, numClassEmbeds, additionEmbedType, encoderHidDim, timeCondProjDim, timeEmbeddingType, resnetTimeScaleShift, onlyCrossAttention, dualCrossAttention, transformerLayersPerBlock, convInKernel, convOutKernel, actFn, centerInputSample, midBlockScaleFactor, resnetOutScaleFactor, timeEmbeddingActFn, timestepPostAct, attentionType, null, null, null, null, null, null, null, null);
    }

    @JsonCreator
    static UNetConfig fromJson(
            @JsonProperty("in_channels") Integer inChannels,
            @JsonProperty("out_channels") Integer outChannels,
            @JsonProperty("sample_size") Integer sampleSize,
            @JsonProperty("down_block_types") List<String> downBlockTypes,
            @JsonProperty("up_block_types") List<String> upBlockTypes,
            @JsonProperty("mid_block_type") JsonNode midBlockType,
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
            @JsonProperty("attention_type") String attentionType,
            @JsonProperty("cross_attention_norm") String crossAttentionNorm,
            @JsonProperty("resnet_skip_time_act") Boolean resnetSkipTimeAct,
            @JsonProperty("addition_time_embed_dim") Integer additionTimeEmbedDim,
            @JsonProperty("projection_class_embeddings_input_dim") Integer projectionClassEmbeddingsInputDim,
            @JsonProperty("reverse_transformer_layers_per_block") JsonNode reverseTransformerLayersPerBlock,
            @JsonProperty("mid_block_only_cross_attention") Boolean midBlockOnlyCrossAttention,
            @JsonProperty("encoder_hid_dim_type") String encoderHidDimType,
            @JsonProperty("class_embeddings_concat") Boolean classEmbeddingsConcat) {
        layersPerBlock = Configs.present(layersPerBlock);
        attentionHeadDim = Configs.present(attentionHeadDim);
        numAttentionHeads = Configs.present(numAttentionHeads);
        crossAttentionDim = Configs.present(crossAttentionDim);
        onlyCrossAttention = Configs.present(onlyCrossAttention);
        transformerLayersPerBlock = Configs.present(transformerLayersPerBlock);
        reverseTransformerLayersPerBlock = Configs.present(reverseTransformerLayersPerBlock);
        unsupported(classEmbedType != null, "class_embed_type '" + classEmbedType + "' (class embeddings)");
        unsupported(numClassEmbeds != null, "num_class_embeds " + numClassEmbeds + " (class embeddings)");
        unsupported(additionEmbedType != null && !additionEmbedType.equals(TEXT_TIME),
                "addition_embed_type '" + additionEmbedType + "' (only text_time, SDXL's)");
        unsupported(encoderHidDim != null, "encoder_hid_dim " + encoderHidDim);
        unsupported(encoderHidDimType != null, "encoder_hid_dim_type '" + encoderHidDimType + "'");
        unsupported(Boolean.TRUE.equals(midBlockOnlyCrossAttention), "mid_block_only_cross_attention true");
        unsupported(Boolean.TRUE.equals(classEmbeddingsConcat), "class_embeddings_concat true");
        unsupported(reverseTransformerLayersPerBlock != null,
                "reverse_transformer_layers_per_block (per-layer transformer depths of the up blocks)");
        unsupported(timeCondProjDim != null, "time_cond_proj_dim (LCM-style guidance embedding)");
        unsupported(timeEmbeddingType != null && !timeEmbeddingType.equals("positional"), "time_embedding_type '" + timeEmbeddingType + "'");
        unsupported(resnetTimeScaleShift != null && !resnetTimeScaleShift.equals("default"), "resnet_time_scale_shift '" + resnetTimeScaleShift + "'");
        unsupported(onlyCrossAttention != null && anyTrue(onlyCrossAttention), "only_cross_attention " + onlyCrossAttention);
        unsupported(Boolean.TRUE.equals(dualCrossAttention), "dual_cross_attention");
        unsupported(convInKernel != null && convInKernel != 3, "conv_in_kernel " + convInKernel);
        unsupported(convOutKernel != null && convOutKernel != 3, "conv_out_kernel " + convOutKernel);
        unsupported(actFn != null && !actFn.equals("silu"), "act_fn '" + actFn + "'");
        unsupported(Boolean.TRUE.equals(centerInputSample), "center_input_sample true");
        unsupported(midBlockScaleFactor != null && midBlockScaleFactor != 1.0, "mid_block_scale_factor " + midBlockScaleFactor);
        unsupported(resnetOutScaleFactor != null && resnetOutScaleFactor != 1.0, "resnet_out_scale_factor " + resnetOutScaleFactor);
        unsupported(timeEmbeddingActFn != null, "time_embedding_act_fn '" + timeEmbeddingActFn + "'");
        unsupported(timestepPostAct != null, "timestep_post_act '" + timestepPostAct + "'");
        unsupported(crossAttentionNorm != null, "cross_attention_norm '" + crossAttentionNorm + "'");
        unsupported(Boolean.TRUE.equals(resnetSkipTimeAct), "resnet_skip_time_act true");
        unsupported(attentionType != null && !attentionType.equals("default"), "attention_type '" + attentionType + "'");
        unsupported(layersPerBlock != null && !layersPerBlock.isInt(), "layers_per_block " + layersPerBlock + " (per-block lists)");
        unsupported(crossAttentionDim != null && !crossAttentionDim.isInt(), "cross_attention_dim " + crossAttentionDim + " (per-block lists)");
        unsupported(numAttentionHeads != null && !numAttentionHeads.isNull(), "num_attention_heads (use attention_head_dim)");

        Configs.require(downBlockTypes, "down_block_types");
        Configs.require(upBlockTypes, "up_block_types");
        Configs.require(blockOutChannels, "block_out_channels");
        int levels = blockOutChannels.length;
        if (levels == 0) {
            throw new IllegalArgumentException("block_out_channels is empty");
        }
        for (int c : blockOutChannels) {
            if (c <= 0) {
                throw new IllegalArgumentException("block_out_channels entry " + c + " is not positive");
            }
        }
        if (downBlockTypes.size() != levels || upBlockTypes.size() != levels) {
            throw new IllegalArgumentException("down_block_types/up_block_types must have one entry per block_out_channels entry ("
                    + levels + ")");
        }
        for (String t : downBlockTypes) {
            unsupported(!DOWN.contains(t), "down_block_types entry '" + t + "' (supported: CrossAttnDownBlock2D, DownBlock2D)");
        }
        for (String t : upBlockTypes) {
            unsupported(!UP.contains(t), "up_block_types entry '" + t + "' (supported: CrossAttnUpBlock2D, UpBlock2D)");
        }
        // absent -> diffusers' default; explicit null means "no mid block", which SD never uses
        String mid = midBlockType == null ? "UNetMidBlock2DCrossAttn" : midBlockType.isNull() ? "null" : midBlockType.asText();
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
            // a level without attention (SDXL's first) never uses its entry
            boolean attends = downBlockTypes.get(i).startsWith("CrossAttn")
                    || upBlockTypes.get(levels - 1 - i).startsWith("CrossAttn") || i == levels - 1;
            if (attends && (heads[i] <= 0 || blockOutChannels[i] % heads[i] != 0)) {
                throw new IllegalArgumentException("attention_head_dim (number of heads) " + heads[i]
                        + " does not divide block_out_channels " + blockOutChannels[i]);
            }
        }
        int[] depth = perLevel(transformerLayersPerBlock, levels, "transformer_layers_per_block", 1);
        int timeIdDim = 0;
        int addInput = 0;
        if (additionEmbedType != null) {
            if (additionTimeEmbedDim == null || additionTimeEmbedDim <= 0) {
                throw new IllegalArgumentException("addition_embed_type 'text_time' needs a positive addition_time_embed_dim, got "
                        + additionTimeEmbedDim);
            }
            if (projectionClassEmbeddingsInputDim == null || projectionClassEmbeddingsInputDim <= TIME_IDS * additionTimeEmbedDim) {
                throw new IllegalArgumentException("addition_embed_type 'text_time' needs projection_class_embeddings_input_dim "
                        + "greater than " + TIME_IDS + " x addition_time_embed_dim = " + TIME_IDS * additionTimeEmbedDim
                        + " (the pooled text embedding's width plus the six size embeddings), got "
                        + projectionClassEmbeddingsInputDim);
            }
            timeIdDim = additionTimeEmbedDim;
            addInput = projectionClassEmbeddingsInputDim;
        }
        if (crossAttentionDim != null && crossAttentionDim.asInt() <= 0) {
            throw new IllegalArgumentException("cross_attention_dim " + crossAttentionDim + " is not positive");
        }
        int groups = Configs.or(normNumGroups, 32);
        if (groups <= 0) {
            throw new IllegalArgumentException("norm_num_groups " + groups + " is not positive");
        }
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
                Configs.or(timeEmbeddingDim, blockOutChannels[0] * 4), depth, additionEmbedType, timeIdDim, addInput);
    }

    /**
     * An int or a list of one positive int per level (diffusers broadcasts an int to every level).
     *
     * @throws IllegalArgumentException naming the key when the list has the wrong length or an entry is not a
     *                                  positive int
     */
    private static int[] perLevel(JsonNode n, int levels, String key, int dflt) {
        int[] out = new int[levels];
        for (int i = 0; i < levels; i++) {
            JsonNode e = n == null ? null : n.isArray() ? n.get(i) : n;
            if (n != null && n.isArray() && n.size() != levels) {
                throw new IllegalArgumentException(key + " list has " + n.size() + " entries, expected " + levels);
            }
            unsupported(e != null && e.isArray(), key + " " + n + " (per-layer lists)");
            if (e != null && !(e.isInt() && e.asInt() > 0)) {
                throw new IllegalArgumentException(key + " entry " + e + " is not a positive integer");
            }
            out[i] = e == null ? dflt : e.asInt();
        }
        return out;
    }

    private static boolean anyTrue(JsonNode n) {
        if (n.isArray()) {
            for (JsonNode e : n) {
                if (e.asBoolean(false)) {
                    return true;
                }
            }
            return false;
        }
        return n.asBoolean(false);
    }

    private static void unsupported(boolean condition, String what) {
        if (condition) {
            throw new UnsupportedOperationException("unsupported UNet feature: " + what
                    + " (Stable Diffusion 1.x, 2.x and SDXL UNets only)");
        }
    }

    public int levels() {
        return blockOutChannels.length;
    }

    /** Whether the UNet has SDXL's added conditioning ({@code addition_embed_type} {@code text_time}). */
    public boolean hasTextTimeEmbedding() {
        return TEXT_TIME.equals(additionEmbedType);
    }

    /**
     * The width of the pooled text embedding the added conditioning takes ({@code text_embeds}):
     * {@code projection_class_embeddings_input_dim - 6 x addition_time_embed_dim} (SDXL base: 2816 - 1536 = 1280);
     * 0 without added conditioning.
     */
    public int textEmbedsDim() {
        return hasTextTimeEmbedding() ? projectionClassEmbeddingsInputDim - TIME_IDS * additionTimeEmbedDim : 0;
    }

    /** Transformer blocks per {@code Transformer2DModel} of up block i (the down list reversed). */
    public int transformerLayersUp(int i) {
        return transformerLayersPerBlock[levels() - 1 - i];
    }

    /** Transformer blocks of the mid block's {@code Transformer2DModel} (the last down entry). */
    public int transformerLayersMid() {
        return transformerLayersPerBlock[levels() - 1];
    }
}
