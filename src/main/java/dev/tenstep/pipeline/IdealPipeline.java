package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.sampling.LatentSampler;
import dev.tenstep.sampling.NoiseSchedule;
import dev.tenstep.sampling.NoiseSource;
import dev.tenstep.sampling.SigmaSchedule;
import dev.tenstep.sampling.ideal.IdealDenoiser;
import dev.tenstep.sampling.ideal.IdealModels;
import dev.tenstep.sampling.ideal.ImageDataSet;

import java.awt.image.BufferedImage;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;

/**
 * The ideal-denoiser model as a {@link TextToImage}: sampling in pixel space with the closed-form denoiser of a
 * captioned image set ({@link IdealDenoiser}; {@code ideal:shapes} or {@code ideal:DIR}). The "latent" is the
 * image itself, [1, C, H, W] in [-1, 1] (no VAE), so decoding is {@code round(clamp((z + 1) / 2) * 255)} and
 * previews of x0-hat are exact. The prompt selects the images whose caption has all its words, the negative
 * prompt the unconditional subset, and the guidance scale is classifier-free guidance between the two. ScheduleKind
 * use the Stable Diffusion 1.x training table ({@link IdealModels#noiseSchedule()}). Images have exactly the data
 * set's size; another width or height is refused.
 *
 * <p>Thread-safe: the data set is immutable and each generation has its own manager and random source.
 */
public final class IdealPipeline implements TextToImage {
    private static final SecureRandom SEEDS = new SecureRandom();

    private final String name;
    private final ImageDataSet data;
    private final NoiseSchedule noiseSchedule = IdealModels.noiseSchedule();

    /**
     * @param name the model's name, e.g. {@code ideal:shapes}
     * @param data the data set
     */
    public IdealPipeline(String name, ImageDataSet data) {
        this.name = name;
        this.data = data;
    }

    /**
     * Loads {@code ideal:shapes} or {@code ideal:DIR}.
     *
     * @throws IllegalArgumentException if the name or the folder is invalid (message names the problem)
     */
    public static IdealPipeline load(String model) {
        return new IdealPipeline(model, IdealModels.dataSet(model));
    }

    @Override
    public String name() {
        return name;
    }

    public ImageDataSet data() {
        return data;
    }

    public NoiseSchedule noiseSchedule() {
        return noiseSchedule;
    }

    /** The data set's width: the only accepted width (and, for square sets, height). */
    @Override
    public int sizeMultiple() {
        return Math.min(data.width(), data.height());
    }

    @Override
    public int defaultSize() {
        return data.width();
    }

    /**
     * Fills the defaults (the data set's size, a random seed) and validates the request.
     *
     * @throws InvalidRequestException listing every invalid field: those of {@link GenerationRequest#validate},
     *                                 a width or height other than the data set's, a prompt or negative prompt that
     *                                 matches no caption (listing the known words)
     */
    /** No text encoder: clip skip 1 only. */
    @Override
    public int maxClipSkip() {
        return 1;
    }

    @Override
    public GenerationRequest resolve(GenerationRequest r, int maxSize) {
        List<FieldError> errors = new ArrayList<>(r.validate(1, noiseSchedule.numTrainTimesteps(),
                Math.max(maxSize, Math.max(data.width(), data.height()))));
        errors.removeIf(e -> e.field().equals("width") || e.field().equals("height"));
        String stepsProblem = r.resolvedSchedule().stepsProblem(noiseSchedule, r.steps());
        if (stepsProblem != null && errors.stream().noneMatch(e -> e.field().equals("steps"))) {
            errors.add(new FieldError("steps", stepsProblem));
        }
        if (r.width() != null && r.width() != data.width()) {
            errors.add(new FieldError("width", "must be " + data.width() + " for " + name + " (the data set's image width), got "
                    + r.width()));
        }
        if (r.height() != null && r.height() != data.height()) {
            errors.add(new FieldError("height", "must be " + data.height() + " for " + name + " (the data set's image height), got "
                    + r.height()));
        }
        try {
            data.subset(r.prompt(), "prompt");
        } catch (IllegalArgumentException e) {
            errors.add(new FieldError("prompt", e.getMessage()));
        }
        try {
            data.subset(r.negativePrompt(), "negative prompt");
        } catch (IllegalArgumentException e) {
            errors.add(new FieldError("negative_prompt", e.getMessage()));
        }
        if (r.resolvedClipSkip() != 1) {
            errors.add(new FieldError("clip_skip", name + " has no text encoder: clip skip must be 1, got " + r.clipSkip()));
        }
        if (!errors.isEmpty()) {
            throw new InvalidRequestException(errors);
        }
        long seed = r.seed() >= 0 ? r.seed() : (SEEDS.nextLong() & 0xffffffffL);
        // the prompt syntax changes nothing here (prompts only name caption subsets) but is kept for the record
        return new GenerationRequest(r.prompt(), r.negativePrompt(), r.steps(), r.cfgScale(), seed, r.sampler(),
                r.resolvedSchedule(), r.resolvedGamma(), data.width(), data.height())
                .withText(r.resolvedSyntax(), r.resolvedClipSkip(), r.resolvedRng());
    }

    /** {@code [1, C, H, W]} of the data set. */
    @Override
    public long[] latentShape(GenerationRequest resolved) {
        return new long[] {1, data.channels(), data.height(), data.width()};
    }

    @Override
    public float[] initialLatents(GenerationRequest resolved) {
        return resolved.resolvedRng().initialDraw(resolved.seed(), data.dimension());
    }

    /**
     * The ideal model has no text encoder: the "embedding" only carries the prompts (empty data), which select the
     * caption subsets at generation time.
     */
    @Override
    public TextToImage.PromptEmbedding encodePrompt(String prompt, String negativePrompt) {
        return new TextToImage.PromptEmbedding(prompt, negativePrompt,
                dev.tenstep.pipeline.prompt.PromptSyntax.PLAIN, 1, java.util.Map.of(), new float[0], new long[] {0}, List.of());
    }

    /**
     * Samples with the request's sampler and schedule from the seeded noise (or the given initial latents).
     *
     * @throws InvalidRequestException  if a field is invalid
     * @throws IllegalArgumentException if the initial latents have the wrong size
     * @throws java.util.concurrent.CancellationException if the listener cancelled
     */
    @Override
    public GenerationResult generate(GenerationRequest request, TextToImage.PromptEmbedding embedding,
                                     TextToImage.Options options) {
        GenerationRequest r = resolve(request);
        long t0 = System.nanoTime();
        long[] shape = latentShape(r);
        int h = data.height();
        int w = data.width();
        SigmaSchedule schedule = r.schedule().build(noiseSchedule, r.steps());
        LatentSampler sampler = r.sampler().sampler(r.gamma());
        IdealDenoiser denoiser = IdealDenoiser.forPrompt(data, r.prompt(), r.negativePrompt(), r.cfgScale());
        try (NDManager gen = NDManager.newBaseManager()) {
            float[] init = options.initLatents() != null ? options.initLatents() : initialLatents(r);
            if (init.length != data.dimension()) {
                throw new IllegalArgumentException("initial latents have " + init.length + " values, expected "
                        + java.util.Arrays.toString(shape));
            }
            NDArray zInit = gen.create(init, new Shape(shape));
            // the request's RNG: its first draw is the initial latent, the per-step noise continues after it
            dev.tenstep.sampling.RngKind.SeedNoise seedNoise = r.resolvedRng().open(r.seed());
            seedNoise.initial(gen, new Shape(shape)).close();
            List<float[]> x0hats = new ArrayList<>();
            long tText = System.nanoTime();
            NDArray zFinal = sampler.sample(denoiser, zInit, schedule, seedNoise.perStep(),
                    StableDiffusionPipeline.stepListener(options, x0hats, t0, h, w));
            long tDenoise = System.nanoTime();
            float[] finalLatents = zFinal.toFloatArray();
            BufferedImage image = Images.toImage(finalLatents, h, w);
            long tEnd = System.nanoTime();
            String infotext = Infotext.format(r, r.seed(), r.width(), r.height(), name);
            return new GenerationResult(image, r, infotext, shape, finalLatents, x0hats, schedule.timesteps(),
                    schedule.sigmas(), List.of(),
                    new GenerationResult.Timings((tText - t0) / 1_000_000, (tDenoise - tText) / 1_000_000,
                            (tEnd - tDenoise) / 1_000_000, (tEnd - t0) / 1_000_000));
        }
    }

    /** x0-hat is an image already: both kinds of preview are exact. */
    @Override
    public BufferedImage preview(StepProgress step, boolean exact) {
        return Images.toImage(step.x0hat(), step.height(), step.width());
    }

    @Override
    public void close() {
        // nothing native is held
    }
}
