package dev.tenstep.web;

import dev.tenstep.pipeline.prompt.PromptChunks;
import dev.tenstep.pipeline.prompt.PromptEncoder;
import dev.tenstep.sampling.ScheduleKind;
import io.javalin.Javalin;
import io.javalin.http.Context;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The A1111 API calls clients make besides txt2img (Krita and Photoshop plugins, bots): {@code GET/POST
 * /sdapi/v1/options}, {@code GET /sdapi/v1/progress}, {@code POST /sdapi/v1/interrupt} and {@code /skip},
 * {@code GET /sdapi/v1/schedulers} and {@code /sd-vae}; and {@code GET /api/tokenize} (token counts for the
 * prompt boxes). Registered by {@link WebApp}.
 */
final class A1111Extras implements WebApp.Routes {
    private final JobQueue queue;
    private final AtomicReference<A1111Settings> settings;
    private final ModelSwitcher models;

    /**
     * @param models the model list: {@code sd_model_checkpoint} in the options switches between them
     */
    A1111Extras(JobQueue queue, AtomicReference<A1111Settings> settings, ModelSwitcher models) {
        this.queue = queue;
        this.settings = settings;
        this.models = models;
    }

    @Override
    public void register(Javalin app) {
        app.get("/sdapi/v1/options", ctx -> ctx.json(settings.get().toJson(models.current().title())));
        app.post("/sdapi/v1/options", this::setOptions);
        app.get("/sdapi/v1/progress", this::progress);
        app.post("/sdapi/v1/interrupt", ctx -> {
            // A1111 stops the image being generated now; waiting requests still run
            queue.runningJobs().forEach(j -> queue.cancel(j.id()));
            ctx.json(Map.of());
        });
        app.post("/sdapi/v1/skip", ctx -> {
            // A1111 skips the current image of a batch: here each image is its own job, so the same as interrupt
            queue.runningJobs().forEach(j -> queue.cancel(j.id()));
            ctx.json(Map.of());
        });
        app.get("/sdapi/v1/schedulers", ctx -> ctx.json(schedulers()));
        app.get("/sdapi/v1/sd-vae", ctx -> ctx.json(List.of()));
        app.get("/api/tokenize", this::tokenize);
    }

    /**
     * {@code POST /sdapi/v1/options}: every field is checked first (422 naming each bad one, an
     * unknown checkpoint included); then {@code sd_model_checkpoint} switches the model, answering
     * once it is loaded (500 naming the problem when it cannot be, the old model served on, the
     * other settings left unchanged); then the other settings apply.
     */
    private void setOptions(Context ctx) throws InterruptedException {
        com.fasterxml.jackson.databind.JsonNode body = Requests.body(ctx.body());
        settings.get().apply(body, "options", models::unknownProblem);
        com.fasterxml.jackson.databind.JsonNode checkpoint = body.get("sd_model_checkpoint");
        if (checkpoint != null && !checkpoint.asText("").isBlank()) {
            models.switchTo(models.find(checkpoint.asText()).orElseThrow(() -> dev.tenstep.pipeline.InvalidRequestException.of(
                    "options.sd_model_checkpoint", models.unknownProblem(checkpoint.asText()))));
        }
        settings.updateAndGet(s -> s.apply(body, "options", models::unknownProblem));
        ctx.json(Map.of());
    }

    private void progress(Context ctx) {
        List<Job> running = queue.runningJobs();
        Map<String, Object> state = new LinkedHashMap<>();
        Map<String, Object> out = new LinkedHashMap<>();
        double progress = 0;
        double eta = 0;
        int step = 0;
        int total = 0;
        if (!running.isEmpty()) {
            Job j = running.get(0);
            step = j.step();
            total = j.request().steps();
            progress = total == 0 ? 0 : (double) step / total;
            double elapsed = Duration.between(j.created(), Instant.now()).toMillis() / 1000.0;
            eta = step == 0 ? 0 : elapsed / step * (total - step);
        }
        state.put("skipped", false);
        state.put("interrupted", false);
        state.put("job", running.isEmpty() ? "" : running.get(0).id());
        state.put("job_count", running.size() + queue.waiting());
        state.put("job_timestamp", running.isEmpty() ? "0" : running.get(0).created().toString());
        state.put("job_no", 0);
        state.put("sampling_step", step);
        state.put("sampling_steps", total);
        out.put("progress", progress);
        out.put("eta_relative", eta);
        out.put("state", state);
        // previews are streamed per job (GET /api/jobs/{id}/events); no image here
        out.put("current_image", null);
        out.put("textinfo", running.isEmpty() ? null : "step " + step + " of " + total);
        ctx.json(out);
    }

    private static List<Map<String, Object>> schedulers() {
        List<Map<String, Object>> l = new ArrayList<>();
        for (ScheduleKind k : ScheduleKind.values()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", k.id());
            m.put("label", k.id());
            m.put("aliases", List.of());
            m.put("default_rho", null);
            m.put("need_inner_model", false);
            l.add(m);
        }
        return l;
    }

    private void tokenize(Context ctx) {
        PromptEncoder encoder = queue.generator().promptEncoder();
        if (encoder == null) {
            throw new ApiException(404, "this generator has no tokenizer");
        }
        String text = ctx.queryParam("text");
        String syntaxText = ctx.queryParam("syntax");
        dev.tenstep.pipeline.prompt.PromptSyntax syntax;
        try {
            syntax = syntaxText == null || syntaxText.isBlank() ? settings.get().syntax()
                    : dev.tenstep.pipeline.prompt.PromptSyntax.parse(syntaxText);
        } catch (IllegalArgumentException e) {
            throw dev.tenstep.pipeline.InvalidRequestException.of("syntax", e.getMessage());
        }
        PromptChunks c;
        try {
            c = encoder.chunks(text == null ? "" : text, syntax);
        } catch (IllegalArgumentException e) {
            throw dev.tenstep.pipeline.InvalidRequestException.of("text", e.getMessage());
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("tokens", c.tokenCount());
        m.put("chunks", c.chunks());
        m.put("limit", c.chunks() * PromptChunks.CHUNK_TOKENS);
        m.put("label", PromptEncoder.countLabel(c));
        ctx.json(m);
    }
}
