package dev.tenstep.web;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.pipeline.DemoPipeline;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.FieldError;
import dev.tenstep.pipeline.InvalidRequestException;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import io.javalin.http.HttpStatus;
import io.javalin.http.sse.SseClient;
import io.javalin.http.sse.SseHandler;
import io.javalin.http.staticfiles.Location;
import io.javalin.rendering.template.JavalinThymeleaf;
import org.eclipse.jetty.http.UriCompliance;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.thymeleaf.TemplateEngine;
import org.thymeleaf.templatemode.TemplateMode;
import org.thymeleaf.templateresolver.ClassLoaderTemplateResolver;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The web front end: builds the Javalin app from its dependencies and returns it unstarted
 * ({@code serve} starts it; tests use {@code JavalinTest}). A thin adapter: requests become
 * {@link GenerationRequest}s queued on the {@link JobQueue}; nothing here runs a model.
 *
 * <p>Routes: pages {@code /}, {@code /compare}, {@code /grid}, {@code /gallery},
 * {@code /result/{file}}; files {@code /outputs/{file}}, {@code /static/*}; JSON API
 * {@code POST /api/txt2img}, {@code GET|DELETE /api/jobs/{id}}, {@code GET /api/jobs/{id}/events}
 * (SSE), {@code GET /api/grid.png}, {@code GET /api/info}; A1111 subset {@code POST /sdapi/v1/txt2img},
 * {@code GET /sdapi/v1/samplers}, {@code GET /sdapi/v1/sd-models}. Every error is mapped to JSON in
 * {@link #errors}; no response carries a stack trace.
 */
public final class WebApp {
    private static final Logger LOG = LoggerFactory.getLogger(WebApp.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Gallery page size. */
    static final int PAGE_SIZE = 24;
    /** Most images one A1111 call may ask for (batch_size x n_iter). */
    static final int MAX_A1111_IMAGES = 16;
    /** Longest an A1111 call waits for one image. */
    static final long A1111_TIMEOUT_MINUTES = 30;

    private final JobQueue queue;
    private final Generator generator;
    private final OutputStore store;

    private WebApp(JobQueue queue, OutputStore store) {
        this.queue = queue;
        this.generator = queue.generator();
        this.store = store;
    }

    /**
     * Builds the app.
     *
     * @param queue the job queue of the loaded model
     * @param store the outputs folder (gallery, file route)
     * @return the configured, unstarted app
     */
    public static Javalin create(JobQueue queue, OutputStore store) {
        WebApp web = new WebApp(queue, store);
        Javalin app = Javalin.create(config -> {
            config.showJavalinBanner = false;
            config.fileRenderer(new JavalinThymeleaf(templateEngine()));
            config.staticFiles.add(sf -> {
                sf.hostedPath = "/static";
                sf.directory = "web/static";
                sf.location = Location.CLASSPATH;
            });
            // let encoded separators reach the file route, which answers 404 (instead of Jetty's 400)
            config.jetty.modifyHttpConfiguration(h -> h.setUriCompliance(UriCompliance.LEGACY));
        });
        web.routes(app);
        web.errors(app);
        return app;
    }

    static TemplateEngine templateEngine() {
        ClassLoaderTemplateResolver r = new ClassLoaderTemplateResolver();
        r.setPrefix("web/templates/");
        r.setSuffix(".html");
        r.setTemplateMode(TemplateMode.HTML);
        r.setCharacterEncoding("UTF-8");
        r.setCacheable(true);
        TemplateEngine engine = new TemplateEngine();
        engine.setTemplateResolver(r);
        return engine;
    }

    private void routes(Javalin app) {
        app.get("/", this::index);
        app.get("/compare", ctx -> ctx.render("compare", page("compare", form(ctx))));
        app.get("/grid", ctx -> ctx.render("grid", page("grid", form(ctx))));
        app.get("/gallery", this::gallery);
        app.get("/result/{file}", this::resultPage);
        app.get("/outputs/{file}", this::outputFile);

        app.get("/api/info", ctx -> ctx.json(info()));
        app.post("/api/txt2img", this::submit);
        app.get("/api/jobs/{id}", ctx -> {
            Job job = job(ctx);
            ctx.json(job.toJson(queue.position(job)));
        });
        SseHandler sse = new SseHandler(0, this::stream);
        app.get("/api/jobs/{id}/events", ctx -> {
            ctx.attribute("job", job(ctx));
            if (!"text/event-stream".equals(ctx.header("Accept"))) {
                throw new ApiException(406, "this is a server-sent event stream: send Accept: text/event-stream");
            }
            sse.handle(ctx);
        });
        app.delete("/api/jobs/{id}", ctx -> {
            JobQueue.Cancellation c = queue.cancel(ctx.pathParam("id")).orElseThrow(() -> new ApiException(404, "unknown job"));
            // a waiting job is cancelled now (200); a running one is interrupted and stops within its current step (202)
            ctx.status(c.stopping() ? HttpStatus.ACCEPTED : HttpStatus.OK).json(c.job().toJson(queue.position(c.job())));
        });
        app.get("/api/grid.png", this::gridPng);

        app.post("/sdapi/v1/txt2img", this::a1111Txt2img);
        app.get("/sdapi/v1/samplers", ctx -> ctx.json(a1111Samplers()));
        app.get("/sdapi/v1/sd-models", ctx -> ctx.json(List.of(a1111Model())));
    }

    /** The one place where exceptions become responses. */
    private void errors(Javalin app) {
        app.exception(InvalidRequestException.class, (e, ctx) -> {
            ctx.status(400).json(Map.of("error", "invalid request: " + e.getMessage(), "errors", e.fieldErrors()));
        });
        app.exception(JobQueue.QueueFullException.class, (e, ctx) -> ctx.status(429).json(Map.of("error", e.getMessage())));
        app.exception(ApiException.class, (e, ctx) -> ctx.status(e.status()).json(Map.of("error", e.getMessage())));
        app.exception(HttpResponseException.class, (e, ctx) -> ctx.status(e.getStatus()).json(Map.of("error", e.getMessage())));
        app.exception(Exception.class, (e, ctx) -> {
            LOG.error("{} {} failed", ctx.method(), ctx.path(), e);
            ctx.status(500).json(Map.of("error", "internal server error (see the server log)"));
        });
    }

    // ---------------------------------------------------------------- pages

    private Map<String, Object> page(String active, Map<String, Object> form) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("active", active);
        m.put("model", generator.modelName());
        m.put("device", generator.compute().label());
        m.put("demo", generator.isDemo());
        m.put("demoLabel", DemoPipeline.LABEL);
        m.put("sizeMultiple", generator.sizeMultiple());
        m.put("defaultSize", generator.defaultSize());
        m.put("maxSize", generator.maxSize());
        m.put("queueSize", queue.capacity());
        m.put("samplers", samplerList());
        m.put("schedules", ScheduleKind.ids());
        m.put("form", form);
        return m;
    }

    /** Form values: defaults, overridden by a stored result ({@code ?reuse=file}) or by query parameters. */
    private Map<String, Object> form(Context ctx) {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("prompt", "");
        f.put("negative_prompt", "");
        f.put("steps", GenerationRequest.DEFAULT_STEPS);
        f.put("cfg_scale", GenerationRequest.DEFAULT_CFG);
        f.put("seed", -1);
        f.put("width", generator.defaultSize());
        f.put("height", generator.defaultSize());
        f.put("sampler", SamplerKind.DEFAULT.id());
        f.put("schedule", SamplerKind.DEFAULT.defaultSchedule().id());
        f.put("gamma", SamplerKind.DEFAULT.gamma());
        String reuse = ctx.queryParam("reuse");
        if (reuse != null) {
            store.entry(reuse).ifPresent(e -> {
                for (String k : List.of("prompt", "negative_prompt", "steps", "cfg_scale", "seed", "width", "height",
                        "sampler", "schedule", "gamma")) {
                    if (e.params().get(k) != null) {
                        f.put(k, e.params().get(k));
                    }
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

    private void index(Context ctx) {
        ctx.render("index", page("index", form(ctx)));
    }

    private void gallery(Context ctx) {
        int pageNo = 1;
        try {
            pageNo = Integer.parseInt(ctx.queryParamAsClass("page", String.class).getOrDefault("1"));
        } catch (NumberFormatException e) {
            // first page
        }
        Map<String, Object> m = page("gallery", form(ctx));
        m.put("page", store.list(pageNo, PAGE_SIZE));
        ctx.render("gallery", m);
    }

    private void resultPage(Context ctx) {
        OutputStore.Entry e = store.entry(ctx.pathParam("file")).orElseThrow(() -> new ApiException(404, "no such result"));
        Map<String, Object> m = page("gallery", form(ctx));
        m.put("entry", e);
        ctx.render("result", m);
    }

    private void outputFile(Context ctx) throws IOException {
        Path p = store.resolve(ctx.pathParam("file")).orElse(null);
        if (p == null) {
            ctx.status(404).json(Map.of("error", "not found"));
            return;
        }
        String name = p.getFileName().toString();
        ctx.contentType(name.endsWith(".png") ? "image/png" : name.endsWith(".json") ? "application/json" : "application/octet-stream");
        ctx.header("Cache-Control", "public, max-age=3600");
        ctx.header("X-Content-Type-Options", "nosniff");
        ctx.result(Files.readAllBytes(p));
    }

    // ---------------------------------------------------------------- JSON API

    private Map<String, Object> info() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", generator.modelName());
        m.put("device", generator.compute().deviceName());
        m.put("dtype", generator.compute().dtype().id());
        m.put("vae_dtype", generator.compute().vaeDtype().id());
        m.put("demo", generator.isDemo());
        m.put("default_size", generator.defaultSize());
        m.put("size_multiple", generator.sizeMultiple());
        m.put("max_size", generator.maxSize());
        m.put("samplers", samplerList());
        m.put("schedules", ScheduleKind.ids());
        m.put("default_sampler", SamplerKind.DEFAULT.id());
        m.put("queue_size", queue.capacity());
        m.put("waiting", queue.waiting());
        return m;
    }

    private Job job(Context ctx) {
        return queue.get(ctx.pathParam("id")).orElseThrow(() -> new ApiException(404, "unknown job"));
    }

    private void submit(Context ctx) {
        JsonNode body = Requests.body(ctx.body());
        GenerationRequest r = generator.resolve(Requests.parse(body, Requests.Names.NATIVE));
        Job job = queue.submit(r, Requests.preview(body));
        ctx.status(HttpStatus.ACCEPTED).json(job.toJson(queue.position(job)));
    }

    private void stream(SseClient client) {
        Job job = client.ctx().attribute("job");
        BlockingQueue<Job.Event> events = job.subscribe();
        try {
            int n = 0;
            while (!client.terminated()) {
                Job.Event e = events.poll(15, TimeUnit.SECONDS);
                if (e == null) {
                    client.sendComment("keep-alive");
                    continue;
                }
                client.sendEvent(e.name(), JSON.writeValueAsString(e.data()), Integer.toString(n++));
                if (e.terminal()) {
                    break;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (JsonProcessingException e) {
            LOG.warn("cannot serialise an event of job {}", job.id(), e);
        } finally {
            job.unsubscribe(events);
        }
    }

    private void gridPng(Context ctx) throws IOException {
        String ids = ctx.queryParam("jobs");
        int cols;
        try {
            cols = Integer.parseInt(ctx.queryParamAsClass("cols", String.class).getOrDefault("0"));
        } catch (NumberFormatException e) {
            throw InvalidRequestException.of("cols", "must be an integer");
        }
        if (ids == null || ids.isBlank()) {
            throw InvalidRequestException.of("jobs", "give the job ids, comma separated, row by row");
        }
        List<Job> jobs = new ArrayList<>();
        for (String id : ids.split(",")) {
            jobs.add(queue.get(id.trim()).orElseThrow(() -> new ApiException(404, "unknown job " + id.trim())));
        }
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
            GenerationRequest q = jobs.get(r * cols).request();
            rowLabels.add(q.sampler().displayName() + " / " + q.resolvedSchedule().id());
        }
        List<String> colLabels = new ArrayList<>();
        for (int c = 0; c < cols; c++) {
            colLabels.add("N = " + jobs.get(c).request().steps());
        }
        GenerationRequest first = jobs.get(0).request();
        String title = "\"" + first.prompt() + "\"  seed " + first.seed() + ", CFG " + first.cfgScale() + ", " + generator.modelName();
        byte[] png = dev.tenstep.io.PngImages.encode(GridImage.compose(cells, rowLabels, colLabels, title), Map.of("parameters", title));
        ctx.contentType("image/png");
        ctx.header("Content-Disposition", "attachment; filename=\"grid-" + first.seed() + ".png\"");
        ctx.result(png);
    }

    // ---------------------------------------------------------------- A1111 subset

    private void a1111Txt2img(Context ctx) throws IOException, InterruptedException {
        JsonNode body = Requests.body(ctx.body());
        GenerationRequest base = Requests.parse(body, Requests.Names.A1111);
        List<FieldError> errors = new ArrayList<>();
        Long batch = Requests.integer(body, "batch_size", errors);
        Long iter = Requests.integer(body, "n_iter", errors);
        long batchSize = batch == null ? 1 : batch;
        long nIter = iter == null ? 1 : iter;
        // checked as longs: no int overflow can turn a huge count into a small one
        if (batch != null && (batchSize < 1 || batchSize > MAX_A1111_IMAGES)) {
            errors.add(new FieldError("batch_size", "must be between 1 and " + MAX_A1111_IMAGES + ", got " + batchSize));
        }
        if (iter != null && (nIter < 1 || nIter > MAX_A1111_IMAGES)) {
            errors.add(new FieldError("n_iter", "must be between 1 and " + MAX_A1111_IMAGES + ", got " + nIter));
        }
        if (errors.isEmpty() && batchSize * nIter > MAX_A1111_IMAGES) {
            errors.add(new FieldError("batch_size", "batch_size x n_iter must be at most " + MAX_A1111_IMAGES + ", got "
                    + batchSize + " x " + nIter));
        }
        if (!errors.isEmpty()) {
            throw new InvalidRequestException(errors);
        }
        GenerationRequest first = generator.resolve(base);
        int count = (int) (batchSize * nIter);
        if (first.seed() > Long.MAX_VALUE - (count - 1)) {
            // image i uses seed + i: it must not wrap around to a negative (random) seed
            throw InvalidRequestException.of("seed", "must be at most " + (Long.MAX_VALUE - (count - 1))
                    + " for " + count + " images (image i uses seed + i), got " + first.seed());
        }
        List<String> images = new ArrayList<>();
        List<Long> seeds = new ArrayList<>();
        List<String> infotexts = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            // A1111: image i of a call uses seed + i
            GenerationRequest r = first.withSeed(first.seed() + i);
            Job job = queue.submit(r, Job.Preview.NONE);
            try {
                job.done().get(A1111_TIMEOUT_MINUTES, TimeUnit.MINUTES);
            } catch (ExecutionException | TimeoutException e) {
                queue.cancel(job.id());
                throw new ApiException(504, "generation did not finish in time");
            }
            if (job.status() != Job.Status.DONE) {
                throw new ApiException(job.status() == Job.Status.CANCELLED ? 409 : 500,
                        job.status() == Job.Status.CANCELLED ? "cancelled" : job.error());
            }
            Path p = store.resolve(job.result().file()).orElseThrow(() -> new ApiException(500, "result file vanished"));
            images.add(Base64.getEncoder().encodeToString(Files.readAllBytes(p)));
            seeds.add(r.seed());
            infotexts.add(job.result().infotext());
        }
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("prompt", first.prompt());
        info.put("all_prompts", java.util.Collections.nCopies(count, first.prompt()));
        info.put("negative_prompt", first.negativePrompt());
        info.put("all_negative_prompts", java.util.Collections.nCopies(count, first.negativePrompt()));
        info.put("seed", first.seed());
        info.put("all_seeds", seeds);
        info.put("width", first.width());
        info.put("height", first.height());
        info.put("sampler_name", first.sampler().displayName());
        info.put("scheduler", first.resolvedSchedule().id());
        info.put("cfg_scale", first.cfgScale());
        info.put("steps", first.steps());
        info.put("batch_size", (int) batchSize);
        info.put("sd_model_name", generator.modelName());
        info.put("index_of_first_image", 0);
        info.put("infotexts", infotexts);
        Map<String, Object> parameters = JSON.convertValue(body, LinkedHashMap.class);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("images", images);
        out.put("parameters", parameters);
        out.put("info", JSON.writeValueAsString(info));
        ctx.json(out);
    }

    private static List<Map<String, Object>> a1111Samplers() {
        List<Map<String, Object>> l = new ArrayList<>();
        for (SamplerKind k : SamplerKind.values()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", k.displayName());
            List<String> aliases = new ArrayList<>(List.of(k.id()));
            aliases.addAll(k.aliases());
            m.put("aliases", aliases);
            m.put("options", Map.of("gamma", Double.toString(k.gamma()),
                    "mu", Double.toString(k.mu()),
                    "default_schedule", k.defaultSchedule().id()));
            l.add(m);
        }
        return l;
    }

    /**
     * The samplers as the pages and {@code /api/info} list them: {@code value} (id), {@code label}
     * (display name), {@code schedule} (its default) and {@code gamma} (its preset), so the forms
     * and scripts hold no list of their own.
     */
    private static List<Map<String, Object>> samplerList() {
        List<Map<String, Object>> l = new ArrayList<>();
        for (SamplerKind k : SamplerKind.values()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("value", k.id());
            m.put("label", k.displayName());
            m.put("schedule", k.defaultSchedule().id());
            m.put("gamma", k.gamma());
            l.add(m);
        }
        return l;
    }

    private Map<String, Object> a1111Model() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("title", generator.modelName());
        m.put("model_name", generator.modelName());
        m.put("hash", null);
        m.put("sha256", null);
        m.put("filename", generator.modelName());
        m.put("config", null);
        return m;
    }
}
