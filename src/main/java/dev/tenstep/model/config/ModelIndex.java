package dev.tenstep.model.config;

import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code model_index.json}: the pipeline class and its components as {@code [library, class]}
 * ({@code [null, null]} = absent, e.g. a removed safety checker, or the optional
 * {@code feature_extractor}/{@code image_encoder} that newer diffusers versions list), and the
 * pipeline options that are scalar entries ({@code force_zeros_for_empty_prompt},
 * {@code add_watermarker}, ...; only the first is read).
 *
 * <p>Supported: {@code StableDiffusionPipeline} (SD 1.x/2.x; also a missing class name) and
 * {@code StableDiffusionXLPipeline} (SDXL base and its fine-tunes: two text encoders).
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public final class ModelIndex {
    /** The SDXL text-to-image pipeline class. */
    public static final String SDXL = "StableDiffusionXLPipeline";

    @JsonProperty("_class_name")
    public String className;
    @JsonProperty("_diffusers_version")
    public String diffusersVersion;
    /**
     * {@code force_zeros_for_empty_prompt} (SDXL; absent: true, the {@code StableDiffusionXLPipeline} default): with no
     * negative prompt, the unconditional half of guidance gets zero embeddings instead of the encoding of "".
     */
    @JsonProperty("force_zeros_for_empty_prompt")
    public Boolean forceZerosForEmptyPrompt;
    /** component name -> class name (null when absent). */
    public final Map<String, String> components = new LinkedHashMap<>();

    @JsonAnySetter
    void component(String key, JsonNode value) {
        if (!key.startsWith("_") && value != null && value.isArray() && value.size() == 2) {
            components.put(key, value.get(1).isNull() ? null : value.get(1).asText());
        }
    }

    /** Whether this is an SDXL pipeline ({@value #SDXL}). */
    public boolean isXl() {
        return SDXL.equals(className);
    }

    /** {@link #forceZerosForEmptyPrompt}, absent = true (diffusers' default). */
    public boolean forceZeros() {
        return forceZerosForEmptyPrompt == null || forceZerosForEmptyPrompt;
    }

    /**
     * Checks that this is a supported text-to-image pipeline with its components.
     *
     * @throws UnsupportedOperationException for another SDXL pipeline class (a refiner, inpainting), SD3 or Flux
     * @throws IllegalArgumentException      naming a missing component
     */
    public void validate() {
        if (className != null && !isXl() && (className.contains("XL") || className.contains("StableDiffusion3")
                || className.contains("Flux"))) {
            String why = className.startsWith("StableDiffusionXLImg2Img") && components.get("text_encoder") == null
                    ? " (an SDXL refiner: one text encoder and aesthetic-score conditioning, which this build does not implement)"
                    : "";
            throw new UnsupportedOperationException("pipeline " + className + " is not supported" + why
                    + " (StableDiffusionPipeline for SD 1.x/2.x and " + SDXL + " only)");
        }
        String[] required = isXl()
                ? new String[] {"tokenizer", "tokenizer_2", "text_encoder", "text_encoder_2", "unet", "vae", "scheduler"}
                : new String[] {"tokenizer", "text_encoder", "unet", "vae", "scheduler"};
        for (String c : required) {
            if (components.get(c) == null) {
                throw new IllegalArgumentException("model_index.json lacks the component '" + c + "'");
            }
        }
    }
}
