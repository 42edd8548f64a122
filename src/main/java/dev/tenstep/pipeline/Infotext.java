package dev.tenstep.pipeline;

import dev.tenstep.pipeline.prompt.PromptSyntax;
import dev.tenstep.sampling.RngKind;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The A1111 "parameters" text stored in PNGs and returned by the API:
 * <pre>
 * a photo of an astronaut riding a horse on mars
 * Negative prompt: blurry
 * Steps: 10, Sampler: GE, Schedule: log-linear, CFG scale: 7.5, Seed: 42, Size: 512x512, Model: stable-diffusion-v1-5
 * </pre>
 * The negative-prompt line is omitted when empty, as A1111 does.
 */
public final class Infotext {
    private Infotext() {
    }

    /** Formats the infotext of a finished generation. */
    public static String format(GenerationRequest r, long seed, int width, int height, String modelName) {
        return format(r, seed, width, height, modelName, null);
    }

    /**
     * Formats the infotext of a finished generation, with A1111's {@code Model hash} (10 hex digits
     * of the checkpoint's SHA-256) before {@code Model} when {@code modelHash} is not null.
     */
    public static String format(GenerationRequest r, long seed, int width, int height, String modelName, String modelHash) {
        return format(r, seed, width, height, modelName, modelHash, ComputeSpec.CPU);
    }

    /**
     * As {@link #format(GenerationRequest, long, int, int, String, String)}, followed by the device
     * and dtypes ({@code Device: "cuda:0", Dtype: fp16}) unless they are the CPU fp32 default, whose
     * infotexts stay as they always were.
     */
    public static String format(GenerationRequest r, long seed, int width, int height, String modelName, String modelHash,
                                ComputeSpec compute) {
        StringBuilder sb = new StringBuilder(r.prompt());
        if (!r.negativePrompt().isEmpty()) {
            sb.append("\nNegative prompt: ").append(r.negativePrompt());
        }
        Map<String, String> p = new LinkedHashMap<>();
        p.put("Steps", Integer.toString(r.steps()));
        p.put("Sampler", r.sampler().displayName());
        p.put("Schedule", r.resolvedSchedule().id());
        p.put("CFG scale", number(r.cfgScale()));
        p.put("Seed", Long.toString(seed));
        p.put("Size", width + "x" + height);
        if (modelHash != null) {
            p.put("Model hash", modelHash);
        }
        p.put("Model", modelName);
        Double gamma = r.resolvedGamma();
        if (gamma != null && gamma != r.sampler().defaultGamma().orElse(Double.NaN)) {
            p.put("Gamma", number(gamma));
        }
        // A1111 writes these only when not at their defaults; "Emphasis: None" makes it read brackets literally
        if (r.resolvedClipSkip() > 1) {
            p.put("Clip skip", Integer.toString(r.resolvedClipSkip()));
        }
        if (r.resolvedRng() != RngKind.PHILOX) {
            p.put("RNG", r.resolvedRng().infotext());
        }
        if (r.resolvedSyntax() == PromptSyntax.PLAIN) {
            p.put("Emphasis", "None");
        }
        p.putAll(compute.infotextFields());
        sb.append('\n');
        boolean first = true;
        for (Map.Entry<String, String> e : p.entrySet()) {
            if (!first) {
                sb.append(", ");
            }
            first = false;
            sb.append(e.getKey()).append(": ").append(quote(e.getValue()));
        }
        return sb.toString();
    }

    static String number(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return String.format(Locale.ROOT, "%s", v);
    }

    /** A1111 quotes values that contain a comma, colon or quote. */
    private static String quote(String v) {
        if (v.contains(",") || v.contains(":") || v.contains("\"") || v.contains("\n")) {
            return '"' + v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + '"';
        }
        return v;
    }
}
