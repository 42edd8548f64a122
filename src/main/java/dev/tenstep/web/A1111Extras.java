package dev.tenstep.web;

import com.fasterxml.jackson.annotation.JsonProperty;
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
import java.util.List;
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
            java.nio.file.Path vae = queue.model().generator().model().vaeFile();
            ctx.json(settings.get().toJson(current.title(), current.sha256(), vae == null ? null : vae.getFileName().toString()));
        });
        app.post("/sdapi/v1/options", this::setOptions);
        app.get("/sdapi/v1/progress", this::progress);
        app.post("/sdapi/v1/interrupt", ctx -> {
            // the running image and the rest of its txt2img call; calls and jobs still waiting run
            calls.interrupt();
            ctx.json(WebApp.emptyObject());
        });
        app.post("/sdapi/v1/skip", ctx -> {
            // the running image only: its txt2img call goes on with its next image
            calls.skip();
            ctx.json(WebApp.emptyObject());
        });
        app.get("/sdapi/v1/schedulers", ctx -> ctx.json(schedulers()));
        // A1111 lists its VAE files as {model_name, filename}; this server has the --vae it started with, if any
        app.get("/sdapi/v1/sd-vae", ctx -> {
            java.nio.file.Path vae = queue.model().generator().model().vaeFile();
            ctx.json(vae == null ? List.of()
                    : List.of(new A1111Vae(vae.getFileName().toString(), vae.toAbsolutePath().toString())));
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
                switching ? dev.tenstep.pipeline.GenerationRequest.MAX_CLIP_SKIP : queue.model().generator().model().maxClipSkip());
        if (checkpoint != null && !checkpoint.asText("").isBlank()) {
            models.switchTo(models.find(checkpoint.asText()).orElseThrow(() -> dev.tenstep.pipeline.InvalidRequestException.of(
                    "options.sd_model_checkpoint", models.unknownProblem(checkpoint.asText()))));
        }
        int max = queue.model().generator().model().maxClipSkip();
        settings.updateAndGet(s -> s.apply(body, "options", models::unknownProblem, max));
        ctx.json(WebApp.emptyObject());
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
            total = j.request().stepsRun();
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
        ProgressState state = new ProgressState(false, false, j == null ? "" : j.id(), jobCount,
                j == null ? "0" : j.created().toString(), jobNo, step, total);
        ctx.json(new Progress(progress, eta, state, image, textinfo));
    }

    /**
     * {@code GET /progress}, as A1111 answers it.
     *
     * @param progress     0..1 of the call or job reported
     * @param etaRelative  seconds left at the pace so far
     * @param currentImage base64 PNG of the last step's preview, or null
     * @param textinfo     the step in words, or null when nothing runs
     */
    record Progress(double progress, @JsonProperty("eta_relative") double etaRelative, ProgressState state,
                    @JsonProperty("current_image") String currentImage, String textinfo) {
    }

    /**
     * The {@code state} of {@code GET /progress}.
     *
     * @param job          id of the job reported, or empty
     * @param jobTimestamp when it was created, or {@code "0"}
     */
    record ProgressState(boolean skipped, boolean interrupted, String job,
                         @JsonProperty("job_count") int jobCount,
                         @JsonProperty("job_timestamp") String jobTimestamp,
                         @JsonProperty("job_no") int jobNo,
                         @JsonProperty("sampling_step") int samplingStep,
                         @JsonProperty("sampling_steps") int samplingSteps) {
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
        String dataUrl = JobRunner.dataUrl(queue.model().generator().model().preview(last, false));
        String base64 = dataUrl.substring(dataUrl.indexOf(',') + 1);
        currentImage.set(new CurrentImage(job, last.step(), base64));
        return base64;
    }

    /**
     * One entry of {@code GET /sdapi/v1/sd-vae}, in A1111's fields.
     *
     * @param modelName the VAE's file name
     * @param filename  its absolute path
     */
    record A1111Vae(@JsonProperty("model_name") String modelName, String filename) {
    }

    /**
     * One entry of {@code GET /sdapi/v1/schedulers}, in A1111's fields.
     *
     * @param name       our schedule id
     * @param label      A1111's label where the schedule is the same as one of A1111's, else our id
     * @param aliases    the other names the schedule is known by
     * @param defaultRho the schedule's rho (Karras: 7), -1 when it has none (as A1111 gives it)
     */
    record A1111Scheduler(String name, String label, List<String> aliases,
                          @JsonProperty("default_rho") double defaultRho,
                          @JsonProperty("need_inner_model") boolean needInnerModel) {
    }

    private static List<A1111Scheduler> schedulers() {
        List<A1111Scheduler> l = new ArrayList<>();
        for (ScheduleKind k : ScheduleKind.values()) {
            // A1111's Scheduler: default_rho -1 unless the schedule has a rho (Karras: 7)
            l.add(new A1111Scheduler(k.id(), k.label(), k.aliases(),
                    k == ScheduleKind.KARRAS ? ScheduleKind.KARRAS_RHO : -1.0, false));
        }
        return l;
    }

    /** Steps assumed when counting the texts of an edited prompt ({@code [a:b:0.5]}: both texts appear). */
    private static final int TOKEN_COUNT_STEPS = 20;

    private void tokenize(Context ctx) {
        PromptEncoder encoder = queue.model().generator().model().promptEncoder();
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
            // A1111's counter leaves out the <lora:...> tags: they are not tokenised
            String t = text == null ? "" : dev.tenstep.pipeline.prompt.LoraTags.removeTags(text);
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
        ctx.json(new TokenCount(c.tokenCount(), c.chunks(), c.chunks() * PromptChunks.CHUNK_TOKENS,
                PromptEncoder.countLabel(c)));
    }

    /**
     * {@code GET /api/tokenize}.
     *
     * @param tokens the prompt's token count (its longest text under prompt editing)
     * @param chunks the 75-token chunks it takes
     * @param limit  tokens those chunks hold
     * @param label  the count as the prompt boxes show it
     */
    record TokenCount(int tokens, int chunks, int limit, String label) {
    }
}
