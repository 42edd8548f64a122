package dev.tenstep.web;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tenstep.pipeline.FieldError;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.InvalidRequestException;
import dev.tenstep.pipeline.prompt.PromptSyntax;
import dev.tenstep.sampling.RngKind;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The A1111 settings this server has, as {@code GET/POST /sdapi/v1/options} and a txt2img request's
 * {@code override_settings} use them: {@code sd_model_checkpoint} (checked by the caller: a model of
 * the catalog for the options, which then switch to it; only the loaded one in {@code override_settings}),
 * {@code CLIP_stop_at_last_layers} (clip skip), {@code randn_source} ({@code GPU}/{@code NV} = philox,
 * {@code CPU} = torch-cpu), {@code emphasis} ({@code Original} = A1111 syntax, {@code None} = plain),
 * {@code eta_noise_seed_delta} (only 0) and {@code sd_vae} (only the model's own). Other keys are accepted and
 * ignored: they are UI or file settings that do not change the picture this server makes. Thread-safe.
 *
 * @param clipSkip clip skip for requests that do not set it
 * @param rng      RNG for requests that do not set it
 * @param syntax   prompt syntax for requests that do not set it
 */
record A1111Settings(int clipSkip, RngKind rng, PromptSyntax syntax) {
    static final A1111Settings DEFAULT = new A1111Settings(1, RngKind.DEFAULT, PromptSyntax.A1111);

    /**
     * The options as A1111 names them ({@code GET /sdapi/v1/options}).
     *
     * @param modelName      the resident model's title
     * @param checkpointHash its full SHA-256 ({@code sd_checkpoint_hash}), or null when not known (a folder)
     * @param vae            the file name of the VAE that replaced the checkpoint's ({@code --vae}), or null: then
     *                       {@code sd_vae} is {@code Automatic} (the checkpoint's own)
     */
    A1111Options toJson(String modelName, String checkpointHash, String vae) {
        return new A1111Options(modelName, checkpointHash, vae == null ? "Automatic" : vae, clipSkip,
                rng == RngKind.PHILOX ? "GPU" : rng == RngKind.TORCH_CPU ? "CPU" : rng.id(),
                syntax == PromptSyntax.PLAIN ? "None" : "Original", 0, true);
    }

    /**
     * {@code GET /sdapi/v1/options}: the A1111 settings this server has, under A1111's names
     * ({@code sd_checkpoint_hash} null when the hash is not known).
     */
    record A1111Options(@JsonProperty("sd_model_checkpoint") String sdModelCheckpoint,
                        @JsonProperty("sd_checkpoint_hash") String sdCheckpointHash,
                        @JsonProperty("sd_vae") String sdVae,
                        @JsonProperty("CLIP_stop_at_last_layers") int clipStopAtLastLayers,
                        @JsonProperty("randn_source") String randnSource,
                        String emphasis,
                        @JsonProperty("eta_noise_seed_delta") int etaNoiseSeedDelta,
                        @JsonProperty("samples_save") boolean samplesSave) {
    }

    /**
     * These settings changed by an A1111 options object ({@code POST /sdapi/v1/options} body or
     * {@code override_settings}).
     *
     * @param field       the field name for messages ({@code override_settings} or {@code options})
     * @param checkpoint  what is wrong with an {@code sd_model_checkpoint} value, or null when it is accepted
     * @param maxClipSkip the loaded model's {@code maxClipSkip} (its text encoder's layer count):
     *                    {@code CLIP_stop_at_last_layers} above it is refused here, naming this field,
     *                    rather than failing every later request
     * @throws InvalidRequestException naming each setting that cannot be applied
     */
    A1111Settings apply(JsonNode options, String field, java.util.function.UnaryOperator<String> checkpoint,
                        int maxClipSkip) {
        if (options == null || options.isNull()) {
            return this;
        }
        List<FieldError> errors = new ArrayList<>();
        if (!options.isObject()) {
            throw InvalidRequestException.of(field, "must be a JSON object");
        }
        int skip = clipSkip;
        RngKind r = rng;
        PromptSyntax s = syntax;
        for (Iterator<Map.Entry<String, JsonNode>> it = options.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = field + "." + e.getKey();
            JsonNode v = e.getValue();
            switch (e.getKey()) {
                case "sd_model_checkpoint" -> {
                    String name = v.asText("");
                    String problem = name.isBlank() ? null : checkpoint.apply(name);
                    if (problem != null) {
                        errors.add(new FieldError(key, problem));
                    }
                }
                case "CLIP_stop_at_last_layers" -> {
                    if (!v.canConvertToInt() || !v.isIntegralNumber() || v.asInt() < 1
                            || v.asInt() > maxClipSkip) {
                        errors.add(new FieldError(key, "must be an integer from 1 to " + maxClipSkip
                                + ", got " + v));
                    } else {
                        skip = v.asInt();
                    }
                }
                case "randn_source" -> {
                    try {
                        r = RngKind.parse(v.asText(""));
                    } catch (IllegalArgumentException ex) {
                        errors.add(new FieldError(key, "must be GPU, NV or CPU (or philox, torch-cpu, tenstep), got " + v));
                    }
                }
                case "emphasis" -> {
                    String t = v.asText("");
                    if (t.equalsIgnoreCase("Original")) {
                        s = PromptSyntax.A1111;
                    } else if (t.equalsIgnoreCase("None")) {
                        s = PromptSyntax.PLAIN;
                    } else {
                        errors.add(new FieldError(key, "must be \"Original\" or \"None\" (other emphasis modes are not "
                                + "supported), got " + v));
                    }
                }
                case "eta_noise_seed_delta" -> {
                    if (v.asDouble(0) != 0) {
                        errors.add(new FieldError(key, "is not supported by this server (only 0), got " + v));
                    }
                }
                case "sd_vae" -> {
                    String t = v.asText("");
                    if (!t.isBlank() && !t.equalsIgnoreCase("Automatic") && !t.equalsIgnoreCase("None")) {
                        errors.add(new FieldError(key, "this server has only the model's own VAE (\"Automatic\"), got " + v));
                    }
                }
                default -> {
                    // UI and file settings: no effect on the picture
                }
            }
        }
        if (!errors.isEmpty()) {
            throw new InvalidRequestException(errors);
        }
        return new A1111Settings(skip, r, s);
    }

    /** The request with these settings filled in where it leaves them unset. */
    GenerationRequest fill(GenerationRequest r) {
        return r.withText(r.promptSyntax() != null ? r.promptSyntax() : syntax,
                r.clipSkip() != null ? r.clipSkip() : clipSkip,
                r.rng() != null ? r.rng() : rng);
    }
}
