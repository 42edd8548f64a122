package dev.tenstep.model.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * {@code text_encoder/config.json} (transformers {@code CLIPTextConfig}). Its bos/eos/pad ids are
 * meaningless defaults in real SD repos and are not read: token ids come from the tokenizer files.
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
        double layerNormEps) {

    @JsonCreator
    public static TextEncoderConfig of(
            @JsonProperty("vocab_size") Integer vocabSize,
            @JsonProperty("hidden_size") Integer hiddenSize,
            @JsonProperty("intermediate_size") Integer intermediateSize,
            @JsonProperty("num_hidden_layers") Integer numHiddenLayers,
            @JsonProperty("num_attention_heads") Integer numAttentionHeads,
            @JsonProperty("max_position_embeddings") Integer maxPositionEmbeddings,
            @JsonProperty("hidden_act") String hiddenAct,
            @JsonProperty("layer_norm_eps") Double layerNormEps,
            @JsonProperty("model_type") String modelType) {
        if (modelType != null && !modelType.startsWith("clip")) {
            throw new UnsupportedOperationException("text encoder model_type '" + modelType + "' is not supported (CLIP only)");
        }
        TextEncoderConfig c = new TextEncoderConfig(Configs.or(vocabSize, 49408), Configs.or(hiddenSize, 512),
                Configs.or(intermediateSize, 2048), Configs.or(numHiddenLayers, 12), Configs.or(numAttentionHeads, 8),
                Configs.or(maxPositionEmbeddings, 77), Configs.or(hiddenAct, "quick_gelu"), Configs.or(layerNormEps, 1e-5));
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
