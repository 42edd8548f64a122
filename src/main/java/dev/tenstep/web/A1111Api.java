package dev.tenstep.web;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.pipeline.FieldError;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.ResolvedRequest;
import dev.tenstep.pipeline.InvalidRequestException;
import dev.tenstep.sampling.SamplerKind;
import io.javalin.Javalin;
import io.javalin.http.Context;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The subset of the AUTOMATIC1111 web UI API that clients of it use, under {@value #PREFIX}:
 * {@code POST /txt2img} (synchronous: queues one job per image on the shared {@link JobQueue}, one after
 * another, and waits; {@link A1111Calls} lets {@code /skip} and {@code /interrupt} end an image or the call),
 * {@code GET /samplers} ({@code /sd-models} is in {@link ModelsApi}), with A1111's field names and layouts
 * (docs/web.md lists them); request fields are read by {@link Requests} with
 * {@link Requests.Names#A1111}.
 *
 * <p>To add an endpoint: one line in {@link #register} ({@code app.get(PREFIX + "/name", ...)})
 * and a method here that builds its response; errors are thrown as {@link ApiException} or
 * {@link InvalidRequestException} and mapped to JSON by {@link WebApp}.
 */
record A1111Api(JobQueue queue, OutputStore store, AtomicReference<A1111Settings> settings, A1111Calls calls,
                ModelSwitcher models)
        implements WebApp.Routes {
    /** Where A1111 serves its API. */
    static final String PREFIX = "/sdapi/v1";
    /** Most images one txt2img call may ask for (batch_size x n_iter). */
    static final int MAX_IMAGES = 16;
    /** Longest a txt2img call waits for one image. */
    static final long TIMEOUT_MINUTES = 30;
    private static final ObjectMapper JSON = new ObjectMapper();

    @Override
    public void register(Javalin app) {
        app.post(PREFIX + "/txt2img", this::txt2img);
        app.get(PREFIX + "/samplers", ctx -> ctx.json(samplers()));
    }

    /**
     * {@code POST /txt2img}: images as base64 PNGs, the request echoed, {@code info} as a JSON string. Images ended
     * by {@code /skip} or {@code /interrupt} are left out ({@code all_seeds} and {@code infotexts} list the returned
     * ones), as A1111 answers an interrupted call with what it finished.
     * The call holds a {@link JobQueue.Lease} throughout, so all its images come from one model: a
     * model switch asked for meanwhile waits for it, and a call made while a switch is pending waits
     * for the new model.
     */
    private void txt2img(Context ctx) throws IOException, InterruptedException {
        try (JobQueue.Lease lease = queue.lease(TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
            txt2img(ctx, lease);
        }
    }

    private void txt2img(Context ctx, JobQueue.Lease lease) throws IOException, InterruptedException {
        Generator generator = lease.generator();
        JsonNode body = Requests.body(ctx.body());
        GenerationRequest parsed = Requests.parse(body, Requests.Names.A1111);
        List<FieldError> errors = new ArrayList<>(Requests.unhonoured(body));
        A1111Settings override = settings.get().apply(body.get("override_settings"), "override_settings",
                sent -> models.overrideProblem(sent, generator), generator.maxClipSkip());
        JsonNode restore = body.get("override_settings_restore_afterwards");
        boolean sendImages = body.path("send_images").asBoolean(true);
        // A1111's API default: images are not saved unless save_images is true
        boolean saveImages = body.path("save_images").asBoolean(false);
        GenerationRequest base = override.fill(parsed);
        Long batch = Requests.integer(body, "batch_size", errors);
        Long iter = Requests.integer(body, "n_iter", errors);
        long batchSize = batch == null ? 1 : batch;
        long nIter = iter == null ? 1 : iter;
        // checked as longs: no int overflow can turn a huge count into a small one
        if (batch != null && (batchSize < 1 || batchSize > MAX_IMAGES)) {
            errors.add(new FieldError("batch_size", "must be between 1 and " + MAX_IMAGES + ", got " + batchSize));
        }
        if (iter != null && (nIter < 1 || nIter > MAX_IMAGES)) {
            errors.add(new FieldError("n_iter", "must be between 1 and " + MAX_IMAGES + ", got " + nIter));
        }
        if (errors.isEmpty() && batchSize * nIter > MAX_IMAGES) {
            errors.add(new FieldError("batch_size", "batch_size x n_iter must be at most " + MAX_IMAGES + ", got "
                    + batchSize + " x " + nIter));
        }
        if (!errors.isEmpty()) {
            throw new InvalidRequestException(errors);
        }
        ResolvedRequest first = generator.resolve(base);
        if (restore != null && !restore.asBoolean(true)) {
            settings.set(override);
        }
        int count = (int) (batchSize * nIter);
        if (first.seed() > Long.MAX_VALUE - (count - 1)) {
            // image i uses seed + i: it must not wrap around to a negative (random) seed
            throw InvalidRequestException.of("seed", "must be at most " + (Long.MAX_VALUE - (count - 1))
                    + " for " + count + " images (image i uses seed + i), got " + first.seed());
        }
        List<String> images = new ArrayList<>();
        List<Long> seeds = new ArrayList<>();
        List<String> infotexts = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        try (A1111Calls.Call call = calls.open(count)) {
            for (int i = 0; i < count; i++) {
                // A1111: image i of a call uses seed + i
                ResolvedRequest r = first.withSeed(first.seed() + i);
                Job job = call.next(() -> queue.submit(lease, r, Job.Preview.NONE, saveImages));
                if (job == null) {
                    break;
                }
                if (!finished(job)) {
                    // cancelled: skipped (the call goes on) or interrupted (it answers with the images so far)
                    continue;
                }
                // save_images false: the job encoded the PNG in memory and wrote nothing
                byte[] png = saveImages ? Files.readAllBytes(store.resolve(job.result().file())
                        .orElseThrow(() -> new ApiException(500, "result file vanished"))) : job.takePng();
                if (sendImages) {
                    images.add(Base64.getEncoder().encodeToString(png));
                }
                seeds.add(r.seed());
                infotexts.add(job.result().infotext());
                for (String w : job.result().warnings()) {
                    if (!warnings.contains(w)) {
                        warnings.add(w);
                    }
                }
            }
        }
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("prompt", first.prompt());
        info.put("all_prompts", Collections.nCopies(seeds.size(), first.prompt()));
        info.put("negative_prompt", first.negativePrompt());
        info.put("all_negative_prompts", Collections.nCopies(seeds.size(), first.negativePrompt()));
        // the seed of the first image returned (a skipped first image leaves the next one first)
        info.put("seed", seeds.isEmpty() ? first.seed() : seeds.get(0));
        info.put("all_seeds", seeds);
        info.put("width", first.width());
        info.put("height", first.height());
        info.put("sampler_name", first.sampler().displayName());
        info.put("scheduler", first.schedule().id());
        info.put("cfg_scale", first.cfgScale());
        info.put("steps", first.steps());
        info.put("batch_size", (int) batchSize);
        info.put("sd_model_name", generator.modelName());
        info.put("sd_model_hash", generator.modelHash());
        info.put("index_of_first_image", 0);
        info.put("infotexts", infotexts);
        info.put("clip_skip", first.clipSkip());
        info.put("warnings", warnings);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("images", images);
        out.put("parameters", JSON.convertValue(body, LinkedHashMap.class));
        out.put("info", JSON.writeValueAsString(info));
        ctx.json(out);
    }

    /**
     * Waits for a job of a synchronous call.
     *
     * @return true when the job is {@link Job.Status#DONE}, false when it was cancelled ({@code /skip},
     *         {@code /interrupt}, or a cancel of the job)
     * @throws ApiException 504 after {@link #TIMEOUT_MINUTES} (the job is cancelled), 500 with its error when it failed
     */
    private boolean finished(Job job) throws InterruptedException {
        try {
            job.done().get(TIMEOUT_MINUTES, TimeUnit.MINUTES);
        } catch (ExecutionException | TimeoutException e) {
            queue.cancel(job.id());
            throw new ApiException(504, "generation did not finish in time");
        }
        if (job.status() == Job.Status.FAILED) {
            throw new ApiException(500, job.error());
        }
        return job.status() == Job.Status.DONE;
    }

    /** {@code GET /samplers}: name (A1111 display name), aliases (our id first), options ({@code gamma} for GE, {@code default_schedule}). */
    private static List<Map<String, Object>> samplers() {
        List<Map<String, Object>> l = new ArrayList<>();
        for (SamplerKind k : SamplerKind.values()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", k.displayName());
            List<String> aliases = new ArrayList<>(List.of(k.id()));
            aliases.addAll(k.aliases());
            m.put("aliases", aliases);
            // only real parameters: gamma is GE's alone
            Map<String, String> options = new LinkedHashMap<>();
            k.defaultGamma().ifPresent(g -> options.put("gamma", Double.toString(g)));
            options.put("default_schedule", k.defaultSchedule().id());
            m.put("options", options);
            l.add(m);
        }
        return l;
    }
}
