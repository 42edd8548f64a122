package dev.tenstep.web;

import dev.tenstep.pipeline.DemoModelWriter;
import dev.tenstep.pipeline.GenerationRecord;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;
import io.javalin.Javalin;
import io.javalin.http.Context;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The HTML pages, rendered by Thymeleaf from {@code web/templates}: {@code /} (generate),
 * {@code /compare}, {@code /grid}, {@code /gallery?page=N}, {@code /result/{file}}; and
 * {@code /outputs/{file}}, the one route that serves a stored image or sidecar. Every page gets
 * the model's limits, the sampler and schedule lists and the form values ({@link #form}).
 */
record Pages(JobQueue queue, OutputStore store, ModelSwitcher models) implements WebApp.Routes {
    /** Gallery page size. */
    static final int PAGE_SIZE = 24;
    /** The form fields a stored result ({@code ?reuse=file}) fills in. */
    private static final List<String> REUSED = List.of("prompt", "negative_prompt", "steps", "cfg_scale", "seed",
            "width", "height", "sampler", "schedule", "gamma");

    /** The resident model and the server's size limit. */
    private ServedModel served() {
        return queue.model().generator();
    }

    private dev.tenstep.pipeline.TextToImage generator() {
        return served().model();
    }

    @Override
    public void register(Javalin app) {
        app.get("/", ctx -> ctx.render("index", page("index", ctx)));
        app.get("/compare", ctx -> ctx.render("compare", page("compare", ctx)));
        app.get("/grid", ctx -> ctx.render("grid", page("grid", ctx)));
        app.get("/gallery", this::gallery);
        app.get("/result/{file}", this::result);
        app.get("/outputs/{file}", this::outputFile);
    }

    /** The model every template gets; {@code active} names the current nav entry. */
    private Map<String, Object> page(String active, Context ctx) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("active", active);
        m.put("model", generator().name());
        // the model picker: every listed model, the resident one selected
        m.put("modelTitle", models.current().title());
        m.put("models", models.entries());
        m.put("switchingTo", models.switchingTo());
        m.put("device", generator().compute().label());
        m.put("demo", generator().isDemo());
        m.put("demoLabel", DemoModelWriter.LABEL);
        m.put("sizeMultiple", generator().sizeMultiple());
        m.put("defaultSize", generator().defaultSize());
        m.put("maxSize", served().maxSize());
        m.put("queueSize", queue.capacity());
        m.put("samplers", WebApp.samplerList());
        m.put("schedules", ScheduleKind.ids());
        // img2img and the hires fix need an image encoder (Stable Diffusion's VAE); the ideal models have none
        m.put("imageInput", generator().encodesImages());
        // SDXL's size conditioning: the other models refuse its fields, so their form has none
        m.put("sizeConditioning", generator() instanceof dev.tenstep.pipeline.StableDiffusionPipeline sd && sd.isXl());
        m.put("latentUpscalers", java.util.Arrays.stream(dev.tenstep.pipeline.LatentUpscaler.values())
                .map(dev.tenstep.pipeline.LatentUpscaler::a1111Name).toList());
        m.put("rngs", WebApp.rngList());
        m.put("promptSyntaxes", WebApp.promptSyntaxList());
        m.put("maxClipSkip", generator().maxClipSkip());
        m.put("knownWords", generator().defaults().knownWords());
        m.put("examplePrompt", generator().defaults().examplePrompt());
        // the LoRAs the resident model can apply (none for a model without weights to change, e.g. ideal:shapes)
        m.put("loras", generator() instanceof dev.tenstep.pipeline.StableDiffusionPipeline sd && sd.loras().catalog() != null
                ? sd.loras().catalog().entries().stream().map(dev.tenstep.pipeline.LoraCatalog.Entry::name).toList() : List.of());
        m.put("form", form(ctx));
        return m;
    }

    /** Form values: defaults, overridden by a stored result ({@code ?reuse=file}) or by query parameters. */
    private Map<String, Object> form(Context ctx) {
        Map<String, Object> f = new LinkedHashMap<>();
        // a model with an example prompt (the built-in ones: one where the measured result holds) starts with it
        f.put("prompt", generator().defaults().examplePrompt());
        f.put("negative_prompt", "");
        f.put("steps", GenerationRequest.DEFAULT_STEPS);
        f.put("cfg_scale", generator().defaults().guidanceScale());
        f.put("seed", -1);
        f.put("width", generator().defaultSize());
        f.put("height", generator().defaultSize());
        f.put("sampler", SamplerKind.DEFAULT.id());
        f.put("schedule", SamplerKind.DEFAULT.defaultSchedule().id());
        f.put("gamma", SamplerKind.DEFAULT.defaultGamma().orElse(SamplerKind.MIN_GAMMA));
        f.put("prompt_syntax", GenerationRequest.DEFAULT_SYNTAX.id());
        f.put("clip_skip", GenerationRequest.DEFAULT_CLIP_SKIP);
        f.put("rng", dev.tenstep.sampling.RngKind.DEFAULT.id());
        for (String k : MICRO_FIELDS) {
            f.put(k, "");
        }
        String reuse = ctx.queryParam("reuse");
        if (reuse != null) {
            store.entry(reuse).ifPresent(e -> {
                for (String k : REUSED) {
                    if (e.params().get(k) != null) {
                        f.put(k, e.params().get(k));
                    }
                }
                reuseText(e.params(), f);
                reuseMicro(e.params(), f);
                if (e.params().get("sampler") == null) {
                    reuseInfotext(e.infotext(), f);
                }
            });
        }
        for (String k : List.copyOf(f.keySet())) {
            String v = ctx.queryParam(k);
            if (v != null) {
                f.put(k, v);
            }
        }
        return f;
    }

    /**
     * The form's fields of SDXL's size conditioning, width before height as the page shows them; empty = the default.
     */
    private static final List<String> MICRO_FIELDS = List.of("original_width", "original_height", "crop_top", "crop_left",
            "target_width", "target_height");

    /**
     * Fills the size-conditioning fields from a record's {@code original_size} / {@code target_size} ([height, width])
     * and {@code crops_coords_top_left} ([top, left]); a record without them (the defaults, or not SDXL) leaves them
     * empty.
     */
    private static void reuseMicro(Map<String, Object> params, Map<String, Object> f) {
        pair(params.get(dev.tenstep.pipeline.MicroConditioning.ORIGINAL_SIZE), f, "original_height", "original_width");
        pair(params.get(dev.tenstep.pipeline.MicroConditioning.CROPS_COORDS_TOP_LEFT), f, "crop_top", "crop_left");
        pair(params.get(dev.tenstep.pipeline.MicroConditioning.TARGET_SIZE), f, "target_height", "target_width");
    }

    private static void pair(Object value, Map<String, Object> f, String first, String second) {
        if (value instanceof List<?> l && l.size() == 2 && l.get(0) instanceof Number && l.get(1) instanceof Number) {
            f.put(first, l.get(0));
            f.put(second, l.get(1));
        }
    }

    /**
     * Fills prompt syntax, clip skip and RNG from a sidecar of this program (one with a {@code sampler}); a sidecar
     * of an earlier version lacks them and means what was done then ({@link GenerationRecord#effectiveRng} etc.), so
     * reusing it remakes that picture. A file without a sidecar leaves the defaults.
     */
    private static void reuseText(Map<String, Object> params, Map<String, Object> f) {
        if (params.get("sampler") == null) {
            return;
        }
        GenerationRecord rec;
        try {
            rec = GenerationRecord.JSON.convertValue(params, GenerationRecord.class);
        } catch (IllegalArgumentException e) {
            // a sidecar edited by hand into another shape: keep the defaults
            return;
        }
        f.put("prompt_syntax", rec.effectivePromptSyntax());
        f.put("clip_skip", rec.effectiveClipSkip());
        f.put("rng", rec.effectiveRng());
    }

    /**
     * Fills the form from a PNG's A1111 infotext alone (made by A1111: no sidecar of this program), as A1111's "PNG Info
     * -> Send to txt2img" does: prompt, negative prompt, steps, CFG scale, seed, size, and the sampler and schedule
     * where this server has them (else the form keeps its default and {@code reuse_note} says which were left).
     */
    static void reuseInfotext(String infotext, Map<String, Object> f) {
        Map<String, String> p = dev.tenstep.pipeline.Infotext.parse(infotext);
        if (p.isEmpty()) {
            return;
        }
        f.put("prompt", p.get("prompt"));
        f.put("negative_prompt", p.get("negative_prompt"));
        List<String> left = new java.util.ArrayList<>();
        number(p, "Steps", "steps", f, left);
        number(p, "CFG scale", "cfg_scale", f, left);
        number(p, "Seed", "seed", f, left);
        String size = p.get("Size");
        if (size != null && size.matches("\\d+x\\d+")) {
            f.put("width", Integer.parseInt(size.substring(0, size.indexOf('x'))));
            f.put("height", Integer.parseInt(size.substring(size.indexOf('x') + 1)));
        }
        if (p.get("Sampler") != null) {
            try {
                SamplerKind k = SamplerKind.byName(p.get("Sampler"));
                f.put("sampler", k.id());
                f.put("schedule", k.defaultSchedule().id());
                if (k.hasGamma()) {
                    f.put("gamma", k.defaultGamma().getAsDouble());
                }
            } catch (IllegalArgumentException ex) {
                left.add("Sampler: " + p.get("Sampler") + " (not on this server)");
            }
        }
        String schedule = p.get("Schedule type") != null ? p.get("Schedule type") : p.get("Schedule");
        if (schedule != null && !schedule.equalsIgnoreCase("Automatic")) {
            try {
                f.put("schedule", dev.tenstep.sampling.ScheduleKind.byName(schedule).id());
            } catch (IllegalArgumentException ex) {
                left.add("Schedule type: " + schedule + " (not on this server)");
            }
        }
        if (!left.isEmpty()) {
            f.put("reuse_note", "from the PNG's parameters; left at the defaults: " + String.join(", ", left));
        }
    }

    private static void number(Map<String, String> p, String key, String field, Map<String, Object> f, List<String> left) {
        String v = p.get(key);
        if (v == null) {
            return;
        }
        try {
            f.put(field, v.contains(".") ? (Object) Double.parseDouble(v) : (Object) Long.parseLong(v));
        } catch (NumberFormatException ex) {
            left.add(key + ": " + v);
        }
    }

    private void gallery(Context ctx) {
        int pageNo = 1;
        try {
            pageNo = Integer.parseInt(ctx.queryParamAsClass("page", String.class).getOrDefault("1"));
        } catch (NumberFormatException e) {
            // first page
        }
        Map<String, Object> m = page("gallery", ctx);
        m.put("page", store.list(pageNo, PAGE_SIZE));
        ctx.render("gallery", m);
    }

    private void result(Context ctx) {
        OutputStore.Entry e = store.entry(ctx.pathParam("file")).orElseThrow(() -> new ApiException(404, "no such result"));
        Map<String, Object> m = page("gallery", ctx);
        m.put("entry", e);
        ctx.render("result", m);
    }

    private void outputFile(Context ctx) throws IOException {
        Path p = store.resolve(ctx.pathParam("file")).orElse(null);
        if (p == null) {
            ctx.status(404).json(WebApp.ApiError.of("not found"));
            return;
        }
        String name = p.getFileName().toString();
        ctx.contentType(name.endsWith(".png") ? "image/png" : name.endsWith(".json") ? "application/json" : "application/octet-stream");
        ctx.header("Cache-Control", "public, max-age=3600");
        ctx.header("X-Content-Type-Options", "nosniff");
        ctx.result(Files.readAllBytes(p));
    }
}
