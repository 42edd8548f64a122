package dev.tenstep.pipeline;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.tenstep.model.config.Configs;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;

/**
 * What a model brings beyond its weights for the people who use it: the guidance scale a request that sets none
 * gets, the example prompt forms show, and the words it was trained on (empty for an open-vocabulary model such
 * as SD). A diffusers folder carries them in an optional {@value #FILE} beside {@code model_index.json} (diffusers
 * ignores the file); without one a model gets {@link #SD}, the Stable Diffusion conventions of diffusers and A1111.
 *
 * <p>The built-in models' values are measured, not guessed: the guidance scale of {@code models/tenstep-shapes}
 * and of {@code ideal:shapes} is the one where the product's default sampler (GE, N = 10) drew the prompt's
 * colour and shape best in the accuracy study (docs/trained-model.md, docs/fidelity.md).
 *
 * @param guidanceScale classifier-free guidance scale w of a request without one, 0..100
 * @param examplePrompt a prompt the model draws well, for form placeholders; "" = none
 * @param knownWords    the words of the model's captions, shown beside the prompt; empty = any text
 */
public record ModelDefaults(@JsonProperty("guidance_scale") double guidanceScale,
                            @JsonProperty("example_prompt") String examplePrompt,
                            @JsonProperty("known_words") List<String> knownWords) {

    /** The file name of a folder's defaults. */
    public static final String FILE = "tenstep.json";

    /** Stable Diffusion's conventions: CFG 7.5 (diffusers' default), any prompt. */
    public static final ModelDefaults SD = new ModelDefaults(GenerationRequest.DEFAULT_CFG, "", List.of());

    /** @throws IllegalArgumentException naming the key when the guidance scale is outside 0..100 or not finite */
    public ModelDefaults {
        if (!Double.isFinite(guidanceScale) || guidanceScale < 0 || guidanceScale > 100) {
            throw new IllegalArgumentException("guidance_scale must be a number between 0 and 100, got " + guidanceScale);
        }
        examplePrompt = examplePrompt == null ? "" : examplePrompt;
        knownWords = knownWords == null ? List.of() : List.copyOf(knownWords);
    }

    /**
     * A warning naming the words of a prompt this model was never trained on (a closed-vocabulary model such as
     * {@code models/tenstep-shapes}: other words mean nothing to it, so a user should hear that they were read and
     * had no meaning), or empty when every word is known or the model is open-vocabulary ({@link #knownWords} empty).
     * Words are runs of letters, compared in lower case; LoRA tags ({@code <lora:...>}) and A1111's {@code BREAK} and
     * {@code AND} keywords are not words of the prompt.
     *
     * @param modelName the model's name, for the message
     * @param prompt    a prompt or negative prompt as the user wrote it
     */
    public Optional<String> unknownWordsWarning(String modelName, String prompt) {
        if (knownWords.isEmpty() || prompt == null) {
            return Optional.empty();
        }
        Set<String> known = new HashSet<>();
        knownWords.forEach(w -> known.add(w.toLowerCase(Locale.ROOT)));
        Set<String> unknown = new LinkedHashSet<>();
        for (String w : dev.tenstep.pipeline.prompt.LoraTags.removeTags(prompt).split("[^\\p{L}]+")) {
            if (!w.isEmpty() && !w.equals("BREAK") && !w.equals("AND") && !known.contains(w.toLowerCase(Locale.ROOT))) {
                unknown.add(w.toLowerCase(Locale.ROOT));
            }
        }
        return unknown.isEmpty() ? Optional.empty() : Optional.of(modelName + " does not know the word"
                + (unknown.size() == 1 ? " " : "s ") + String.join(", ", unknown)
                + " (it was trained on a fixed vocabulary; other words mean nothing to it)");
    }

    /**
     * The defaults of a diffusers folder: its {@value #FILE}, else {@link #SD}.
     *
     * @throws dev.tenstep.model.ModelLoadException naming the file and key when the file is malformed or a value
     *                                              is out of range
     */
    public static ModelDefaults of(Path folder) {
        Path file = folder.resolve(FILE);
        return Files.isRegularFile(file) ? Configs.read(file, ModelDefaults.class) : SD;
    }
}
