package dev.tenstep.web;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tenstep.io.PngImages;
import dev.tenstep.pipeline.FieldError;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.ResolvedRequest;
import dev.tenstep.pipeline.InvalidRequestException;
import dev.tenstep.sampling.RngKind;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HttpStatus;
import io.javalin.http.sse.SseHandler;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;

/**
 * The JSON jobs API: {@code POST /api/txt2img} (202 with the job), {@code GET|DELETE /api/jobs/{id}},
 * the event streams {@code GET /api/jobs/{id}/events} (one job) and {@code GET /api/events?jobs=a,b}
 * (several jobs over one connection, see {@link EventStreams}), {@code GET /api/grid.png} (finished
 * jobs as one labelled PNG) and {@code GET /api/info} (the model, its limits, the models to switch
 * to and the lists the pages use). docs/web.md describes each field.
 */
record JobsApi(JobQueue queue, OutputStore store, ModelSwitcher models) implements WebApp.Routes {
    /** Most jobs one multiplexed stream may follow (a grid of 16 x 16 cells). */
    static final int MAX_STREAMED_JOBS = 256;
    private static final String EVENT_STREAM = "text/event-stream";

    private dev.tenstep.pipeline.TextToImage generator() {
        return queue.model().generator().model();
    }

    @Override
    public void register(Javalin app) {
        app.get("/api/info", ctx -> ctx.json(info()));
        app.post("/api/txt2img", this::submit);
        app.get("/api/jobs/{id}", ctx -> {
            Job job = job(ctx.pathParam("id"));
            ctx.json(job.toJson(queue.position(job)));
        });
        app.delete("/api/jobs/{id}", ctx -> {
            JobQueue.Cancellation c = queue.cancel(ctx.pathParam("id")).orElseThrow(() -> new ApiException(404, "unknown job"));
            // a waiting job is cancelled now (200); a running one is interrupted and stops within its current step (202)
            ctx.status(c.stopping() ? HttpStatus.ACCEPTED : HttpStatus.OK).json(c.job().toJson(queue.position(c.job())));
        });
        SseHandler single = new SseHandler(0, client -> EventStreams.single(client, client.ctx().attribute("job")));
        app.get("/api/jobs/{id}/events", ctx -> {
            ctx.attribute("job", job(ctx.pathParam("id")));
            requireEventStream(ctx);
            single.handle(ctx);
        });
        SseHandler multiplexed = new SseHandler(0, client -> EventStreams.multiplexed(client, client.ctx().attribute("jobs")));
        app.get("/api/events", ctx -> {
            ctx.attribute("jobs", streamedJobs(ctx.queryParam("jobs")));
            requireEventStream(ctx);
            multiplexed.handle(ctx);
        });
        app.get("/api/grid.png", this::gridPng);
    }

    /**
     * {@code GET /api/info} (docs/web.md describes each field).
     *
     * @param model      the resident model's name ({@code model_title} is its catalog title, with a file's hash)
     * @param waiting    jobs waiting now
     * @param switchingTo title of the model a pending switch loads, or null
     */
    record ServerInfo(String model, String device, String dtype,
                      @JsonProperty("vae_dtype") String vaeDtype,
                      boolean demo,
                      @JsonProperty("default_size") int defaultSize,
                      @JsonProperty("size_multiple") int sizeMultiple,
                      @JsonProperty("max_size") int maxSize,
                      List<WebApp.SamplerChoice> samplers,
                      List<String> schedules,
                      @JsonProperty("default_sampler") String defaultSampler,
                      List<WebApp.Choice> rngs,
                      @JsonProperty("default_rng") String defaultRng,
                      @JsonProperty("prompt_syntaxes") List<WebApp.Choice> promptSyntaxes,
                      @JsonProperty("default_prompt_syntax") String defaultPromptSyntax,
                      @JsonProperty("default_clip_skip") int defaultClipSkip,
                      @JsonProperty("max_clip_skip") int maxClipSkip,
                      @JsonProperty("queue_size") int queueSize,
                      int waiting,
                      @JsonProperty("model_title") String modelTitle,
                      @JsonProperty("switching_to") String switchingTo,
                      List<ModelsApi.ListedModel> models) {
    }

    private ServerInfo info() {
        ServedModel served = queue.model().generator();
        dev.tenstep.pipeline.TextToImage g = served.model();
        ModelsApi.ModelsState state = ModelsApi.state(models);
        return new ServerInfo(g.name(), g.compute().deviceName(), g.compute().dtype().id(),
                g.compute().vaeDtype().id(), g.isDemo(), g.defaultSize(), g.sizeMultiple(), served.maxSize(),
                WebApp.samplerList(), ScheduleKind.ids(), SamplerKind.DEFAULT.id(), WebApp.rngList(),
                RngKind.DEFAULT.id(), WebApp.promptSyntaxList(), GenerationRequest.DEFAULT_SYNTAX.id(),
                GenerationRequest.DEFAULT_CLIP_SKIP, g.maxClipSkip(), queue.capacity(), queue.waiting(), state.model(),
                state.switchingTo(), state.models());
    }

    /** {@code POST /api/txt2img}: 202 with the job; 503 while the model is being switched (the page shows it). */
    private void submit(Context ctx) {
        JsonNode sent = Requests.body(ctx.body());
        List<FieldError> errors = new ArrayList<>();
        GenerationBody fields = Requests.bind(sent, GenerationBody.class, errors);
        Txt2ImgBody body = Requests.bind(sent, Txt2ImgBody.class, errors);
        GenerationRequest parsed = fields.toRequest(body.samplerField(), body.scheduleField(), errors);
        Img2ImgBody img2img = Requests.bind(sent, Img2ImgBody.class, errors);
        HiresBody hires = Requests.bind(sent, HiresBody.class, errors);
        parsed = parsed.withImg2Img(img2img.nativeImg2Img(Boolean.TRUE.equals(hires.enableHr()), errors))
                .withHires(hires.toHires(parsed.prompt(), parsed.negativePrompt(), parsed.cfgScale(), errors));
        Job.Preview preview = body.previewMode(errors);
        Requests.refuseUnknown(sent, errors, GenerationBody.class, Txt2ImgBody.class, Img2ImgBody.class, HiresBody.class);
        Requests.check(errors);
        // resolved and queued on one model: a switch cannot come between
        try (ResidentModel.Lease<ServedModel> lease = queue.model().tryLease()) {
            ResolvedRequest r = lease.generator().model().resolve(parsed, lease.generator().maxSize());
            Job job = queue.submit(lease, r, preview);
            ctx.status(HttpStatus.ACCEPTED).json(job.toJson(queue.position(job)));
        }
    }

    private Job job(String id) {
        return queue.get(id).orElseThrow(() -> new ApiException(404, "unknown job"));
    }

    /**
     * The jobs of a {@code jobs=a,b,...} parameter, in order.
     *
     * @throws ApiException 404 naming the first unknown id
     */
    private List<Job> jobs(String ids) {
        List<Job> jobs = new ArrayList<>();
        for (String raw : ids.split(",")) {
            String id = raw.trim();
            jobs.add(queue.get(id).orElseThrow(() -> new ApiException(404, "unknown job " + id)));
        }
        return jobs;
    }

    /**
     * The jobs one multiplexed stream follows: 1 to {@link #MAX_STREAMED_JOBS} distinct ids.
     *
     * @throws InvalidRequestException naming {@code jobs} when missing, repeated or too many
     */
    private List<Job> streamedJobs(String ids) {
        if (ids == null || ids.isBlank()) {
            throw InvalidRequestException.of("jobs", "give the job ids, comma separated");
        }
        List<Job> jobs = jobs(ids);
        if (jobs.size() > MAX_STREAMED_JOBS) {
            throw InvalidRequestException.of("jobs", "at most " + MAX_STREAMED_JOBS + " jobs per stream, got " + jobs.size());
        }
        if (new HashSet<>(jobs).size() != jobs.size()) {
            throw InvalidRequestException.of("jobs", "names a job twice");
        }
        return jobs;
    }

    private static void requireEventStream(Context ctx) {
        if (!EVENT_STREAM.equals(ctx.header("Accept"))) {
            throw new ApiException(406, "this is a server-sent event stream: send Accept: " + EVENT_STREAM);
        }
    }

    private void gridPng(Context ctx) throws IOException {
        int cols;
        try {
            cols = Integer.parseInt(ctx.queryParamAsClass("cols", String.class).getOrDefault("0"));
        } catch (NumberFormatException e) {
            throw InvalidRequestException.of("cols", "must be an integer");
        }
        String ids = ctx.queryParam("jobs");
        if (ids == null || ids.isBlank()) {
            throw InvalidRequestException.of("jobs", "give the job ids, comma separated, row by row");
        }
        List<Job> jobs = jobs(ids);
        if (cols < 1 || jobs.size() % cols != 0) {
            throw InvalidRequestException.of("cols", "must divide the number of jobs (" + jobs.size() + ")");
        }
        int rows = jobs.size() / cols;
        List<BufferedImage> cells = new ArrayList<>();
        for (Job j : jobs) {
            BufferedImage img = null;
            if (j.result() != null) {
                Path p = store.resolve(j.result().file()).orElse(null);
                img = p == null ? null : ImageIO.read(p.toFile());
            }
            cells.add(img);
        }
        List<String> rowLabels = new ArrayList<>();
        for (int r = 0; r < rows; r++) {
            ResolvedRequest q = jobs.get(r * cols).request();
            rowLabels.add(q.sampler().displayName() + " / " + q.schedule().id());
        }
        List<String> colLabels = new ArrayList<>();
        for (int c = 0; c < cols; c++) {
            colLabels.add("N = " + jobs.get(c).request().steps());
        }
        ResolvedRequest first = jobs.get(0).request();
        String title = "\"" + first.prompt() + "\"  seed " + first.seed() + ", CFG " + first.cfgScale() + ", " + generator().name();
        byte[] png = PngImages.encode(GridImage.compose(cells, rowLabels, colLabels, title), Map.of("parameters", title));
        ctx.contentType("image/png");
        ctx.header("Content-Disposition", "attachment; filename=\"grid-" + first.seed() + ".png\"");
        ctx.result(png);
    }
}
