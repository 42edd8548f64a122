package dev.tenstep.model.config;

import com.fasterxml.jackson.annotation.JsonAnySetter;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code model_index.json}: the pipeline class and its components as {@code [library, class]}
 * ({@code [null, null]} = absent, e.g. a removed safety checker).
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public final class ModelIndex {
    @JsonProperty("_class_name")
    public String className;
    @JsonProperty("_diffusers_version")
    public String diffusersVersion;
    /** component name -> class name (null when absent). */
    public final Map<String, String> components = new LinkedHashMap<>();

    @JsonAnySetter
    void component(String key, JsonNode value) {
        if (!key.startsWith("_") && value != null && value.isArray() && value.size() == 2) {
            components.put(key, value.get(1).isNull() ? null : value.get(1).asText());
        }
    }

    /** Checks that this is a text-to-image SD 1.x/2.x pipeline. */
    public void validate() {
        if (className != null && (className.contains("XL") || className.contains("StableDiffusion3")
                || className.contains("Flux"))) {
            throw new UnsupportedOperationException("pipeline " + className
                    + " is not supported (Stable Diffusion 1.x and 2.x only)");
        }
        for (String c : new String[] {"tokenizer", "text_encoder", "unet", "vae", "scheduler"}) {
            if (components.get(c) == null) {
                throw new IllegalArgumentException("model_index.json lacks the component '" + c + "'");
            }
        }
    }
}
