package dev.tenstep.model.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * {@code text_encoder/config.json} (transformers {@code CLIPTextConfig}). Its bos/pad ids are
 * meaningless defaults in real SD repos and are not read: token ids come from the tokenizer files.
 *
 * <p>A config whose {@code architectures} names {@code CLIPTextModelWithProjection} (SDXL's
 * {@code text_encoder_2}, OpenCLIP ViT-bigG) has a {@link #projection}: the model then holds
 * {@code text_projection.weight} [projection_dim, hidden_size] and pools at the end-of-text
 * position, found with the config's {@code eos_token_id} (transformers {@code modeling_clip.py}).
 *
 * @param projection {@code projection_dim} and {@code eos_token_id} of a {@code CLIPTextModelWithProjection}, or
 *                   null for a {@code CLIPTextModel} (SD 1.x/2.x, SDXL's {@code text_encoder})
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record TextEncoderConfig(
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numHiddenLayers,
        int numAttentionHeads,
        int maxPositionEmbeddings,
        String hiddenAct,
        double layerNormEps,
        TextProjection projection) {

    /** The architecture name of a text encoder with a projection head ({@code architectures} entry). */
    public static final String WITH_PROJECTION = "CLIPTextModelWithProjection";

    /**
     * The projection head of a {@code CLIPTextModelWithProjection}.
     *
     * @param projectionDim width of {@code text_embeds} ({@code text_projection.weight} is [projectionDim, hidden])
     * @param eosTokenId    the config's {@code eos_token_id}: 2 (the old default the SDXL configs carry) selects the
     *                      pooling position by {@code argmax(input_ids)}, any other value by the first position
     *                      holding it (transformers &gt;= 4.31)
     */
    public record TextProjection(int projectionDim, int eosTokenId) {
    }

    /** A {@code CLIPTextModel} config (no projection head). */
    public TextEncoderConfig(int vocabSize, int hiddenSize, int intermediateSize, int numHiddenLayers, int numAttentionHeads,
                             int maxPositionEmbeddings, String hiddenAct, double layerNormEps) {
        this(vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, maxPositionEmbeddings, hiddenAct,
                layerNormEps, null);
    }

    /** Builds and validates a config from the JSON keys' values (null = absent), as {@link #fromJson} without projection. */
    public static TextEncoderConfig of(Integer vocabSize, Integer hiddenSize, Integer intermediateSize, Integer numHiddenLayers,
                                       Integer numAttentionHeads, Integer maxPositionEmbeddings, String hiddenAct,
                                       Double layerNormEps, String modelType) {
        return fromJson(vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, maxPositionEmbeddings,
                hiddenAct, layerNormEps, modelType, null, null, null);
    }

    @JsonCreator
    static TextEncoderConfig fromJson(
            @JsonProperty("vocab_size") Integer vocabSize,
            @JsonProperty("hidden_size") Integer hiddenSize,
            @JsonProperty("intermediate_size") Integer intermediateSize,
            @JsonProperty("num_hidden_layers") Integer numHiddenLayers,
            @JsonProperty("num_attention_heads") Integer numAttentionHeads,
            @JsonProperty("max_position_embeddings") Integer maxPositionEmbeddings,
            @JsonProperty("hidden_act") String hiddenAct,
            @JsonProperty("layer_norm_eps") Double layerNormEps,
            @JsonProperty("model_type") String modelType,
            @JsonProperty("architectures") java.util.List<String> architectures,
            @JsonProperty("projection_dim") Integer projectionDim,
            @JsonProperty("eos_token_id") Integer eosTokenId) {
        if (modelType != null && !modelType.startsWith("clip")) {
            throw new UnsupportedOperationException("text encoder model_type '" + modelType + "' is not supported (CLIP only)");
        }
        if (architectures != null && architectures.size() > 1) {
            throw new UnsupportedOperationException("text encoder architectures " + architectures + " (one expected)");
        }
        String arch = architectures == null || architectures.isEmpty() ? "CLIPTextModel" : architectures.get(0);
        if (!arch.equals("CLIPTextModel") && !arch.equals(WITH_PROJECTION)) {
            throw new UnsupportedOperationException("text encoder architecture '" + arch
                    + "' is not supported (CLIPTextModel or " + WITH_PROJECTION + ")");
        }
        TextProjection projection = null;
        if (arch.equals(WITH_PROJECTION)) {
            // transformers' CLIPTextConfig defaults: projection_dim 512, eos_token_id 49407 (>= 4.31)
            int dim = Configs.or(projectionDim, 512);
            if (dim <= 0) {
                throw new IllegalArgumentException("projection_dim must be positive, got " + dim);
            }
            projection = new TextProjection(dim, Configs.or(eosTokenId, 49407));
        }
        TextEncoderConfig c = new TextEncoderConfig(Configs.or(vocabSize, 49408), Configs.or(hiddenSize, 512),
                Configs.or(intermediateSize, 2048), Configs.or(numHiddenLayers, 12), Configs.or(numAttentionHeads, 8),
                Configs.or(maxPositionEmbeddings, 77), Configs.or(hiddenAct, "quick_gelu"), Configs.or(layerNormEps, 1e-5),
                projection);
        if (!c.hiddenAct.equals("quick_gelu") && !c.hiddenAct.equals("gelu")) {
            throw new UnsupportedOperationException("hidden_act '" + c.hiddenAct + "' is not supported (quick_gelu or gelu)");
        }
        if (c.hiddenSize <= 0 || c.numAttentionHeads <= 0 || c.numHiddenLayers <= 0 || c.intermediateSize <= 0
                || c.vocabSize <= 0 || c.maxPositionEmbeddings <= 0) {
            throw new IllegalArgumentException("vocab_size, hidden_size, intermediate_size, num_hidden_layers, "
                    + "num_attention_heads and max_position_embeddings must be positive");
        }
        if (c.hiddenSize % c.numAttentionHeads != 0) {
            throw new IllegalArgumentException("hidden_size " + c.hiddenSize + " not divisible by num_attention_heads " + c.numAttentionHeads);
        }
        return c;
    }
}
