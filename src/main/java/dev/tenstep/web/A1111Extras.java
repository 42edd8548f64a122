package dev.tenstep.web;

import dev.tenstep.pipeline.ModelCatalog;
import dev.tenstep.pipeline.StepProgress;
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
import java.util.Optional;
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
    private final A1111Calls calls;
    private final ModelSwitcher models;
    /** The last {@code current_image} made, so clients polling one step get it without a new render. */
    private final AtomicReference<CurrentImage> currentImage = new AtomicReference<>();

    /** The base64 PNG preview of one job's step. */
    private record CurrentImage(Job job, int step, String base64) {
    }

    /**
     * @param calls  the txt2img calls in progress, which {@code /interrupt} and {@code /skip} end or advance and
     *               {@code /progress} reports
     * @param models the model list: {@code sd_model_checkpoint} in the options switches between them
     */
    A1111Extras(JobQueue queue, AtomicReference<A1111Settings> settings, A1111Calls calls, ModelSwitcher models) {
        this.queue = queue;
        this.settings = settings;
        this.calls = calls;
        this.models = models;
    }

    @Override
    public void register(Javalin app) {
        app.get("/sdapi/v1/options", ctx -> {
            ModelCatalog.Entry current = models.current();
            java.nio.file.Path vae = queue.generator().vaeFile();
            ctx.json(settings.get().toJson(current.title(), current.sha256(), vae == null ? null : vae.getFileName().toString()));
        });
        app.post("/sdapi/v1/options", this::setOptions);
        app.get("/sdapi/v1/progress", this::progress);
        app.post("/sdapi/v1/interrupt", ctx -> {
            // the running image and the rest of its txt2img call; calls and jobs still waiting run
            calls.interrupt();
            ctx.json(Map.of());
        });
        app.post("/sdapi/v1/skip", ctx -> {
            // the running image only: its txt2img call goes on with its next image
            calls.skip();
            ctx.json(Map.of());
        });
        app.get("/sdapi/v1/schedulers", ctx -> ctx.json(schedulers()));
        // A1111 lists its VAE files as {model_name, filename}; this server has the --vae it started with, if any
        app.get("/sdapi/v1/sd-vae", ctx -> {
            java.nio.file.Path vae = queue.generator().vaeFile();
            ctx.json(vae == null ? List.of() : List.of(Map.of("model_name", vae.getFileName().toString(),
                    "filename", vae.toAbsolutePath().toString())));
        });
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
        com.fasterxml.jackson.databind.JsonNode checkpoint = body.get("sd_model_checkpoint");
        boolean switching = checkpoint != null && !checkpoint.asText("").isBlank();
        // clip skip is checked against the model it will apply to: the new one when this call switches
        settings.get().apply(body, "options", models::unknownProblem,
                switching ? dev.tenstep.pipeline.GenerationRequest.MAX_CLIP_SKIP : queue.generator().maxClipSkip());
        if (checkpoint != null && !checkpoint.asText("").isBlank()) {
            models.switchTo(models.find(checkpoint.asText()).orElseThrow(() -> dev.tenstep.pipeline.InvalidRequestException.of(
                    "options.sd_model_checkpoint", models.unknownProblem(checkpoint.asText()))));
        }
        int max = queue.generator().maxClipSkip();
        settings.updateAndGet(s -> s.apply(body, "options", models::unknownProblem, max));
        ctx.json(Map.of());
    }

    /**
     * {@code GET /progress}. While a txt2img call is in progress ({@link A1111Calls#active}) it reports the whole
     * call, as A1111 does: {@code job_no} the index of the current image, {@code job_count} the call's images plus
     * the other running and waiting jobs, {@code progress} (images done + the current image's step fraction) /
     * images, {@code eta_relative} in seconds from the call's start at that pace. Between two images of a call it
     * stays active (step 0 of the next image), so that clients do not take the gap for the end. Otherwise it reports
     * the oldest running job: its step, {@code eta_relative} from its start (time in the queue not counted),
     * {@code job_no} 0. {@code current_image} is the cheap preview of the running job's last x0-hat as a base64 PNG
     * (latent resolution, as A1111's "Approx cheap"), null before the first step, between images or with
     * {@code skip_current_image=true}.
     */
    private void progress(Context ctx) {
        List<Job> running = queue.runningJobs();
        Optional<A1111Calls.State> call = calls.active(running);
        Job j = call.map(A1111Calls.State::current).orElse(running.isEmpty() ? null : running.get(0));
        Map<String, Object> state = new LinkedHashMap<>();
        Map<String, Object> out = new LinkedHashMap<>();
        double progress = 0;
        double eta = 0;
        int step = 0;
        int total = 0;
        int jobNo = 0;
        int jobCount = running.size() + queue.waiting();
        String image = null;
        String textinfo = null;
        if (j != null) {
            boolean runs = j.status() == Job.Status.RUNNING;
            StepProgress last = runs ? j.lastStep() : null;
            step = !runs ? 0 : last != null ? last.step() : j.step();
            total = j.request().steps();
            double fraction = total == 0 ? 0 : (double) step / total;
            if (call.isPresent()) {
                A1111Calls.State c = call.get();
                // the call's current job, when queued or running, is already among the running and waiting jobs
                boolean counted = j.status() == Job.Status.QUEUED || runs;
                jobCount += c.images() - (counted ? 1 : 0);
                // between images the ended job is still current: its step is over, the next image is at step 0
                jobNo = Math.min(c.done(), c.images() - 1);
                progress = (c.done() + (runs ? fraction : 0)) / c.images();
                eta = callEta(c.started(), Instant.now(), progress);
                textinfo = "image " + (jobNo + 1) + " of " + c.images() + ", step " + step + " of " + total;
            } else {
                progress = fraction;
                eta = eta(j.started(), Instant.now(), step, total);
                textinfo = "step " + step + " of " + total;
            }
            if (last != null && !"true".equalsIgnoreCase(ctx.queryParam("skip_current_image"))) {
                // x0-hat reaches the host only for a job whose image is polled: from the next step on, or now
                // while the step's callback still runs
                j.wantX0hat();
                image = last.hasX0hat() ? currentImage(j, last) : null;
            }
        }
        state.put("skipped", false);
        state.put("interrupted", false);
        state.put("job", j == null ? "" : j.id());
        state.put("job_count", jobCount);
        state.put("job_timestamp", j == null ? "0" : j.created().toString());
        state.put("job_no", jobNo);
        state.put("sampling_step", step);
        state.put("sampling_steps", total);
        out.put("progress", progress);
        out.put("eta_relative", eta);
        out.put("state", state);
        out.put("current_image", image);
        out.put("textinfo", textinfo);
        ctx.json(out);
    }

    /**
     * Seconds left for a call that started at {@code started} and has done the fraction {@code progress} (0..1) of
     * its images by {@code now}, at its pace so far (A1111's elapsed / progress - elapsed); 0 before any progress or
     * when not started.
     */
    static double callEta(Instant started, Instant now, double progress) {
        if (started == null || progress <= 0) {
            return 0;
        }
        double elapsed = Duration.between(started, now).toNanos() / 1e9;
        return Math.max(0, elapsed / progress - elapsed);
    }

    /**
     * Seconds left for a job that started at {@code started} and has finished {@code step} of {@code total} steps
     * by {@code now}, at its pace so far; 0 before the first step or when not started.
     */
    static double eta(Instant started, Instant now, int step, int total) {
        if (started == null || step <= 0) {
            return 0;
        }
        double elapsed = Duration.between(started, now).toNanos() / 1e9;
        return elapsed / step * (total - step);
    }

    /** The step's cheap preview as a base64 PNG, rendered once per job and step. */
    private String currentImage(Job job, StepProgress last) {
        CurrentImage c = currentImage.get();
        if (c != null && c.job() == job && c.step() == last.step()) {
            return c.base64();
        }
        String dataUrl = JobQueue.dataUrl(queue.generator().preview(last, false));
        String base64 = dataUrl.substring(dataUrl.indexOf(',') + 1);
        currentImage.set(new CurrentImage(job, last.step(), base64));
        return base64;
    }

    private static List<Map<String, Object>> schedulers() {
        List<Map<String, Object>> l = new ArrayList<>();
        for (ScheduleKind k : ScheduleKind.values()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", k.id());
            m.put("label", k.label());
            m.put("aliases", k.aliases());
            // A1111's Scheduler: default_rho -1 unless the schedule has a rho (Karras: 7)
            m.put("default_rho", k == ScheduleKind.KARRAS ? ScheduleKind.KARRAS_RHO : -1.0);
            m.put("need_inner_model", false);
            l.add(m);
        }
        return l;
    }

    /** Steps assumed when counting the texts of an edited prompt ({@code [a:b:0.5]}: both texts appear). */
    private static final int TOKEN_COUNT_STEPS = 20;

    private void tokenize(Context ctx) {
        PromptEncoder encoder = queue.generator().promptEncoder();
        if (encoder == null) {
            throw new ApiException(404, "this generator has no tokenizer");
        }
        String text = ctx.queryParam("text");
        // "syntax", or the request field's name "prompt_syntax"
        String syntaxText = ctx.queryParam("syntax") != null ? ctx.queryParam("syntax") : ctx.queryParam("prompt_syntax");
        dev.tenstep.pipeline.prompt.PromptSyntax syntax;
        try {
            syntax = syntaxText == null || syntaxText.isBlank() ? settings.get().syntax()
                    : dev.tenstep.pipeline.prompt.PromptSyntax.parse(syntaxText);
        } catch (IllegalArgumentException e) {
            throw dev.tenstep.pipeline.InvalidRequestException.of("syntax", e.getMessage());
        }
        PromptChunks c;
        try {
            String t = text == null ? "" : text;
            // with prompt editing the longest text the prompt takes during sampling counts, as A1111's counter does
            c = null;
            for (dev.tenstep.pipeline.prompt.PromptSchedule.Entry e
                    : dev.tenstep.pipeline.prompt.PromptSchedule.of(t, TOKEN_COUNT_STEPS, syntax).entries()) {
                PromptChunks ce = encoder.chunks(e.text(), syntax);
                if (c == null || ce.tokenCount() > c.tokenCount()) {
                    c = ce;
                }
            }
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
