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
 * Steps: 10, Sampler: GE, Schedule type: log-linear, CFG scale: 7.5, Seed: 42, Size: 512x512, Model: stable-diffusion-v1-5
 * </pre>
 * The negative-prompt line is omitted when empty, as A1111 does.
 */
public final class Infotext {
    private Infotext() {
    }

    /** Formats the infotext of a finished generation on the CPU in fp32, without a model hash. */
    public static String format(ResolvedRequest r, String modelName) {
        return format(r, modelName, null, ComputeSpec.CPU);
    }

    /**
     * Formats the infotext of a finished generation, with A1111's {@code Model hash} (10 hex digits of the
     * checkpoint's SHA-256) before {@code Model} when {@code modelHash} is not null, followed by the device and
     * dtypes ({@code Device: "cuda:0", Dtype: fp16}) unless they are the CPU fp32 default, whose infotexts stay as
     * they always were.
     */
    public static String format(ResolvedRequest r, String modelName, String modelHash, ComputeSpec compute) {
        return format(r, modelName, modelHash, null, compute);
    }

    /**
     * A VAE that replaced the checkpoint's: A1111's {@code VAE hash} (10 hex digits of the file's SHA-256, null for a
     * diffusers folder, which A1111 has no hash for) and {@code VAE} (the file name).
     */
    public record Vae(String name, String hash) {
    }

    /**
     * As {@link #format(ResolvedRequest, String, String, ComputeSpec)}, with A1111's {@code VAE hash} and {@code VAE}
     * after {@code Model} when {@code vae} is not null (a {@code --vae} replaced the checkpoint's; A1111 writes them
     * only then).
     */
    public static String format(ResolvedRequest r, String modelName, String modelHash, Vae vae, ComputeSpec compute) {
        StringBuilder sb = new StringBuilder(r.prompt());
        if (!r.negativePrompt().isEmpty()) {
            sb.append("\nNegative prompt: ").append(r.negativePrompt());
        }
        Map<String, String> p = new LinkedHashMap<>();
        p.put("Steps", Integer.toString(r.steps()));
        p.put("Sampler", r.sampler().displayName());
        // A1111's key; its value is A1111's label where A1111 has the same schedule (Karras), else the id
        p.put("Schedule type", r.schedule().label());
        p.put("CFG scale", number(r.cfgScale()));
        p.put("Seed", Long.toString(r.seed()));
        p.put("Size", r.width() + "x" + r.height());
        if (modelHash != null) {
            p.put("Model hash", modelHash);
        }
        p.put("Model", modelName);
        if (vae != null) {
            if (vae.hash() != null) {
                p.put("VAE hash", vae.hash());
            }
            p.put("VAE", vae.name());
        }
        // A1111's place for it: after the model and VAE, before Clip skip
        Double strength = r.img2img() != null ? r.img2img().strength() : r.hires() != null ? r.hires().strength() : null;
        if (strength != null) {
            p.put("Denoising strength", number(strength));
        }
        if (r.img2img() != null && r.img2img().rule() != dev.tenstep.sampling.Img2ImgSteps.DEFAULT) {
            p.put("Img2img steps", r.img2img().rule().id());
        }
        // only GE has a gamma (null for every other sampler); written when it is not GE's default
        if (r.customGamma()) {
            p.put("Gamma", number(r.gamma()));
        }
        // A1111 writes these only when not at their defaults; "Emphasis: None" makes it read brackets literally
        if (r.clipSkip() > 1) {
            p.put("Clip skip", Integer.toString(r.clipSkip()));
        }
        if (r.rng() != RngKind.PHILOX) {
            p.put("RNG", r.rng().infotext());
        }
        if (r.promptSyntax() == PromptSyntax.PLAIN) {
            p.put("Emphasis", "None");
        }
        // SDXL's size conditioning, only the parts that are not diffusers' defaults (sizes width first, as Size)
        p.putAll(MicroConditioning.infotextFields(r.micro(), r.height(), r.width()));
        if (r.hires() != null) {
            // A1111's extra_generation_params of the hires fix (processing.py), as it writes them
            HiresFix h = r.hires();
            if (h.resizes()) {
                p.put("Hires resize", h.resizeX() + "x" + h.resizeY());
            } else {
                p.put("Hires upscale", number(h.scale()));
            }
            if (h.steps() != 0) {
                p.put("Hires steps", Integer.toString(h.steps()));
            }
            p.put("Hires upscaler", h.upscaler().a1111Name());
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

    /**
     * {@code infotext} with one more {@code key: value} field at the end of its parameter line, the value quoted as
     * A1111 quotes it (e.g. {@code Init latents: init.safetensors}).
     */
    public static String withField(String infotext, String key, String value) {
        return infotext + ", " + key + ": " + quote(value);
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

    /** One {@code key: value} of A1111's parameters line; a quoted value may hold commas (A1111's {@code re_param}). */
    private static final java.util.regex.Pattern PARAM =
            java.util.regex.Pattern.compile("\\s*(\\w[\\w \\-/]+):\\s*(\"(?:\\\\.|[^\\\\\"])+\"|[^,]*)(?:,|$)");

    /**
     * Reads an A1111 infotext (A1111's {@code parse_generation_parameters}): the prompt lines, an optional
     * {@code Negative prompt:} (which may span lines) and the last line's {@code key: value} pairs ({@code Steps: 20,
     * Sampler: Euler a, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x768, ...}), quoted values unquoted.
     *
     * @return {@code prompt}, {@code negative_prompt} (possibly empty) and every key as written; empty for a blank text
     */
    public static Map<String, String> parse(String infotext) {
        Map<String, String> out = new LinkedHashMap<>();
        if (infotext == null || infotext.isBlank()) {
            return out;
        }
        String[] lines = infotext.strip().split("\n", -1);
        String last = lines[lines.length - 1];
        int n = lines.length;
        if (PARAM.matcher(last).results().count() >= 3) {
            java.util.regex.Matcher m = PARAM.matcher(last);
            while (m.find()) {
                String v = m.group(2).strip();
                if (v.length() >= 2 && v.startsWith("\"") && v.endsWith("\"")) {
                    try {
                        v = new com.fasterxml.jackson.databind.ObjectMapper().readValue(v, String.class);
                    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                        v = v.substring(1, v.length() - 1);
                    }
                }
                out.put(m.group(1).strip(), v);
            }
            n--;
        }
        StringBuilder prompt = new StringBuilder();
        StringBuilder negative = null;
        for (int k = 0; k < n; k++) {
            String line = lines[k];
            if (negative == null && line.startsWith("Negative prompt:")) {
                negative = new StringBuilder(line.substring("Negative prompt:".length()).strip());
            } else if (negative != null) {
                negative.append('\n').append(line);
            } else {
                prompt.append(prompt.length() == 0 ? "" : "\n").append(line);
            }
        }
        out.put("prompt", prompt.toString().strip());
        out.put("negative_prompt", negative == null ? "" : negative.toString().strip());
        return out;
    }
}
