package dev.tenstep.web;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
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
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The subset of the AUTOMATIC1111 web UI API that clients of it use, under {@value #PREFIX}:
 * {@code POST /txt2img} (synchronous: queues one job per image on the shared {@link JobQueue}, one after
 * another, and waits; {@link A1111Calls} lets {@code /skip} and {@code /interrupt} end an image or the call),
 * {@code GET /samplers} ({@code /sd-models} is in {@link ModelsApi}), with A1111's field names and layouts
 * (docs/web.md lists them); the request body is bound to {@link GenerationBody} and {@link A1111Txt2ImgBody}.
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
        app.post(PREFIX + "/txt2img", ctx -> generate(ctx, false));
        app.post(PREFIX + "/img2img", ctx -> generate(ctx, true));
        app.get(PREFIX + "/samplers", ctx -> ctx.json(samplers()));
    }

    /**
     * {@code POST /txt2img}: images as base64 PNGs, the request echoed, {@code info} as a JSON string. Images ended
     * by {@code /skip} or {@code /interrupt} are left out ({@code all_seeds} and {@code infotexts} list the returned
     * ones), as A1111 answers an interrupted call with what it finished.
     * The call holds a {@link ResidentModel.Lease} throughout, so all its images come from one model: a
     * model switch asked for meanwhile waits for it, and a call made while a switch is pending waits
     * for the new model.
     */
    private void generate(Context ctx, boolean img2img) throws IOException, InterruptedException {
        try (ResidentModel.Lease<ServedModel> lease = queue.model().lease(TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
            generate(ctx, lease, img2img);
        }
    }

    /**
     * {@code POST /txt2img} and {@code POST /img2img} (the same fields, and the init image, strength and resize mode
     * of {@link Img2ImgBody}; the hires fix of {@link HiresBody} only in txt2img, as in A1111).
     */
    private void generate(Context ctx, ResidentModel.Lease<ServedModel> lease, boolean img2img)
            throws IOException, InterruptedException {
        ServedModel served = lease.generator();
        dev.tenstep.pipeline.TextToImage generator = served.model();
        JsonNode sent = Requests.body(ctx.body());
        List<FieldError> errors = new ArrayList<>();
        GenerationBody fields = Requests.bind(sent, GenerationBody.class, errors);
        A1111Txt2ImgBody body = Requests.bind(sent, A1111Txt2ImgBody.class, errors);
        GenerationRequest parsed = fields.toRequest(body.samplerField(), body.scheduleField(), errors);
        Img2ImgBody image = Requests.bind(sent, Img2ImgBody.class, errors);
        HiresBody hires = Requests.bind(sent, HiresBody.class, errors);
        if (img2img) {
            parsed = parsed.withImg2Img(image.a1111Img2Img(errors));
            if (Boolean.TRUE.equals(hires.enableHr())) {
                errors.add(new FieldError("enable_hr", "is a txt2img field: img2img has no hires fix"));
            }
        } else {
            parsed = parsed.withHires(hires.toHires(parsed.prompt(), parsed.negativePrompt(), parsed.cfgScale(), errors));
            if (image.initImages() != null && !image.initImages().isNull()) {
                errors.add(new FieldError("init_images", "txt2img takes no init image: POST it to " + PREFIX + "/img2img"));
            }
        }
        Requests.check(errors);
        A1111Settings override = settings.get().apply(body.overrideSettings(), "override_settings",
                name -> models.overrideProblem(name, served), generator.maxClipSkip());
        boolean sendImages = !Boolean.FALSE.equals(body.sendImages());
        // A1111's API default: images are not saved unless save_images is true
        boolean saveImages = Boolean.TRUE.equals(body.saveImages());
        GenerationRequest base = override.fill(parsed);
        errors.addAll(body.unhonoured());
        Long batch = body.batchSize();
        Long iter = body.nIter();
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
        Requests.check(errors);
        ResolvedRequest first = generator.resolve(base, served.maxSize());
        if (Boolean.FALSE.equals(body.restoreAfterwards())) {
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
        if (img2img && Boolean.TRUE.equals(image.includeInitImages()) && sendImages) {
            // A1111: the init images follow the generated ones
            for (JsonNode i : image.initImages()) {
                images.add(i.asText().replaceFirst("^data:[^,]*,", ""));
            }
        }
        Txt2ImgInfo info = new Txt2ImgInfo(first.prompt(), Collections.nCopies(seeds.size(), first.prompt()),
                first.negativePrompt(), Collections.nCopies(seeds.size(), first.negativePrompt()),
                // the seed of the first image returned (a skipped first image leaves the next one first)
                seeds.isEmpty() ? first.seed() : seeds.get(0), seeds, first.width(), first.height(),
                first.sampler().displayName(), first.schedule().id(), first.cfgScale(), first.steps(),
                (int) batchSize, generator.name(), generator.modelHash(), 0, infotexts,
                first.clipSkip(), warnings, strength(first));
        JsonNode parameters = sent;
        if (img2img && sent.has("init_images")) {
            // A1111 answers without the init images (unless include_init_images), as it drops them from the echo
            parameters = sent.deepCopy();
            ((com.fasterxml.jackson.databind.node.ObjectNode) parameters).putNull("init_images");
        }
        ctx.json(new Txt2ImgResponse(images, parameters, JSON.writeValueAsString(info)));
    }

    /**
     * The {@code txt2img} answer, as A1111 gives it.
     *
     * @param images     base64 PNGs (none with {@code send_images: false})
     * @param parameters the request body as sent
     * @param info       {@link Txt2ImgInfo} as a JSON string (A1111 sends it so)
     */
    record Txt2ImgResponse(List<String> images, JsonNode parameters, String info) {
    }

    /** What A1111 reports in {@code info} about the images returned; the seeds and infotexts list them in order. */
    record Txt2ImgInfo(String prompt,
                       @JsonProperty("all_prompts") List<String> allPrompts,
                       @JsonProperty("negative_prompt") String negativePrompt,
                       @JsonProperty("all_negative_prompts") List<String> allNegativePrompts,
                       long seed,
                       @JsonProperty("all_seeds") List<Long> allSeeds,
                       int width, int height,
                       @JsonProperty("sampler_name") String samplerName,
                       String scheduler,
                       @JsonProperty("cfg_scale") double cfgScale,
                       int steps,
                       @JsonProperty("batch_size") int batchSize,
                       @JsonProperty("sd_model_name") String sdModelName,
                       @JsonProperty("sd_model_hash") String sdModelHash,
                       @JsonProperty("index_of_first_image") int indexOfFirstImage,
                       List<String> infotexts,
                       @JsonProperty("clip_skip") int clipSkip,
                       List<String> warnings,
                       @JsonProperty("denoising_strength") @JsonInclude(JsonInclude.Include.NON_NULL) Double denoisingStrength) {
    }

    /** The strength of an img2img or hires-fix request (A1111's {@code denoising_strength} in {@code info}), else null. */
    private static Double strength(ResolvedRequest r) {
        return r.img2img() != null ? r.img2img().strength() : r.hires() != null ? r.hires().strength() : null;
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

    /**
     * One entry of {@code GET /samplers}.
     *
     * @param name    the A1111 display name
     * @param aliases our id first, then the other names it is known by
     */
    record A1111Sampler(String name, List<String> aliases, SamplerOptions options) {
    }

    /**
     * A sampler's options, as strings (as A1111 lists them): only its real parameters, {@code gamma} (GE's alone, left
     * out for the others) and its default schedule.
     */
    record SamplerOptions(@JsonInclude(JsonInclude.Include.NON_NULL) String gamma,
                          @JsonProperty("default_schedule") String defaultSchedule) {
    }

    /** {@code GET /samplers}. */
    private static List<A1111Sampler> samplers() {
        List<A1111Sampler> l = new ArrayList<>();
        for (SamplerKind k : SamplerKind.values()) {
            List<String> aliases = new ArrayList<>(List.of(k.id()));
            aliases.addAll(k.aliases());
            // only real parameters: gamma is GE's alone
            l.add(new A1111Sampler(k.displayName(), aliases, new SamplerOptions(
                    k.defaultGamma().isPresent() ? Double.toString(k.defaultGamma().getAsDouble()) : null,
                    k.defaultSchedule().id())));
        }
        return l;
    }
}
