package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.sampling.Img2ImgSteps;
import dev.tenstep.sampling.LatentSampler;
import dev.tenstep.sampling.RngKind;
import dev.tenstep.sampling.SigmaSchedule;
import dev.tenstep.sampling.StepListener;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntFunction;

/**
 * The one generation path of every {@link TextToImage} (Stable Diffusion 1.x/2.x and SDXL, the ideal denoiser), in the
 * stages of diffusers' pipelines:
 * <ol>
 *   <li>conditioning: the model's guided denoiser for the request ({@link TextToImage#condition});</li>
 *   <li>initial latents: z_init ~ N(0, I) {@link TextToImage#latentShape} from the seed with the request's RNG
 *       (or the given latents; the seed's first draw is still taken so the per-step noise is the same);</li>
 *   <li>the sampling loop: the request's sampler on its schedule over the model's training table
 *       ({@code docs/samplers.md});</li>
 *   <li>decode: {@link TextToImage#decode} to RGB.</li>
 * </ol>
 * Each generation has its own {@link NDManager} ({@link TextToImage#newManager}) and random source, so concurrent
 * generations do not change each other's images.
 */
public final class DenoiseStage {
    private DenoiseStage() {
    }

    /**
     * Runs the four stages on the calling thread.
     *
     * @param model     the model contributing conditioning, denoiser and decoder
     * @param r         the request, resolved by {@code model}
     * @param embedding a precomputed {@link TextToImage#encodePrompt} of the request's prompts, or null
     * @param options   starting latent, x0-hat recording, step listener
     * @throws IllegalArgumentException if the initial latents have the wrong size
     * @throws NonFiniteException       if the final latents or the decoded pixels are not finite
     * @throws java.util.concurrent.CancellationException if the listener cancelled or the thread was interrupted
     */
    public static GenerationResult run(TextToImage model, ResolvedRequest r, TextToImage.PromptEmbedding embedding,
                                       TextToImage.Options options) {
        long t0 = System.nanoTime();
        long[] latentShape = model.latentShape(r);
        Shape shape = new Shape(latentShape);
        LatentSampler sampler = r.sampler().sampler(r.gamma());
        int total = r.stepsRun();
        try (NDManager gen = model.newManager()) {
            TextToImage.Conditioned cond = model.condition(r, embedding, gen);
            long tText = System.nanoTime();

            RngKind.SeedNoise seedNoise = r.rng().open(r.seed());
            Start start = r.img2img() == null ? fromNoise(model, r, seedNoise, gen, shape, options)
                    : fromImage(model, r, seedNoise, gen, shape, options);

            List<float[]> x0hats = new ArrayList<>();
            NDArray zFinal = sampler.sample(cond.denoiser(), start.z(), start.schedule(), seedNoise.perStep(),
                    stepListener(options, x0hats, t0, (int) latentShape[2], (int) latentShape[3], cond.entryAt(), 0, total));
            SigmaSchedule schedule = start.schedule();
            List<String> warnings = cond.warnings();
            if (r.hires() != null) {
                NonFiniteException.check(zFinal.toFloatArray(), "denoising (first pass; " + cond.denoiserLabel() + ")");
                Start second = hiresStart(model, r, zFinal, latentShape, gen);
                ResolvedRequest pass = withSteps(r, r.hires().passSteps(r.steps()));
                TextToImage.Conditioned hrCond = model.condition(pass, embedding, gen);
                // A1111's ImageRNG: a fresh generator of the image seed; its first draw was the hires noise
                RngKind.SeedNoise hrNoise = second.noise();
                long[] hrShape = second.z().getShape().getShape();
                x0hats.clear();
                zFinal = sampler.sample(hrCond.denoiser(), second.z(), second.schedule(), hrNoise.perStep(),
                        stepListener(options, x0hats, t0, (int) hrShape[2], (int) hrShape[3], hrCond.entryAt(),
                                start.schedule().steps(), total));
                schedule = second.schedule();
                latentShape = hrShape;
            }
            long tDenoise = System.nanoTime();
            float[] finalLatents = zFinal.toFloatArray();
            NonFiniteException.check(finalLatents, "denoising (final latents; " + cond.denoiserLabel() + ")");
            NDArray decoded = model.decode(zFinal);
            BufferedImage image = Images.toImage(decoded);
            long tEnd = System.nanoTime();
            java.nio.file.Path vaeFile = model.vaeFile();
            Infotext.Vae vae = vaeFile == null ? null : new Infotext.Vae(vaeFile.getFileName().toString(), model.vaeHash());
            String infotext = Infotext.format(r, model.name(), model.modelHash(), vae, model.compute());
            return new GenerationResult(image, r, infotext, latentShape, finalLatents, x0hats,
                    schedule.timesteps(), schedule.sigmas(), warnings,
                    new GenerationResult.Timings((tText - t0) / 1_000_000, (tDenoise - tText) / 1_000_000,
                            (tEnd - tDenoise) / 1_000_000, (tEnd - t0) / 1_000_000), start.initial());
        }
    }

    /**
     * Where a sampling pass starts.
     *
     * @param z        the starting latent in z coordinates [1, C, h, w]
     * @param schedule the levels the pass samples over
     * @param initial  the unit-variance noise it was made from, row-major (recorded in the result)
     * @param noise    the generator whose per-step noise the pass uses, when it is not the request's first one
     */
    record Start(NDArray z, SigmaSchedule schedule, float[] initial, RngKind.SeedNoise noise) {
    }

    /** Text-to-image: z_init ~ N(0, I), the seed's first draw (or the given latents), on the full schedule. */
    private static Start fromNoise(TextToImage model, ResolvedRequest r, RngKind.SeedNoise seedNoise, NDManager gen,
                                   Shape shape, TextToImage.Options options) {
        SigmaSchedule schedule = r.schedule().build(model.noiseSchedule(), r.steps());
        NDArray zInit = seedNoise.initial(gen, shape);
        if (options.initLatents() != null) {
            checkLength(options.initLatents(), shape, r);
            // the seed's draw was still taken, so the per-step noise is the same as with the seed's latents
            zInit.close();
            zInit = gen.create(options.initLatents(), shape);
        }
        return new Start(zInit, schedule, zInit.toFloatArray(), null);
    }

    /**
     * img2img: the init image resized to the request's size ({@link InitImage#tensor}), encoded with the seed's first
     * draw as the posterior's noise ({@link TextToImage#encode}), noised with the second draw (or the given latents)
     * to the first level of the strength's span ({@link Img2ImgSteps#addNoise}): diffusers' order of draws.
     */
    private static Start fromImage(TextToImage model, ResolvedRequest r, RngKind.SeedNoise seedNoise, NDManager gen,
                                   Shape shape, TextToImage.Options options) {
        Img2Img i2i = r.img2img();
        Img2ImgSteps.Span span = i2i.span(r.steps());
        SigmaSchedule schedule = r.schedule().build(model.noiseSchedule(), span.scheduleSteps()).tail(span.start());
        NDArray image = gen.create(i2i.image().tensor(r.width(), r.height()), new Shape(1, 3, r.height(), r.width()));
        NDArray encoderNoise = seedNoise.initial(gen, shape);
        NDArray init = model.encode(image, encoderNoise);
        if (!init.getShape().equals(shape)) {
            throw new IllegalStateException(model.name() + " encoded " + r.width() + "x" + r.height() + " to "
                    + init.getShape() + ", expected " + shape);
        }
        NDArray noise = seedNoise.next(gen, shape);
        if (options.initLatents() != null) {
            checkLength(options.initLatents(), shape, r);
            noise.close();
            noise = gen.create(options.initLatents(), shape);
        }
        NDArray z = Img2ImgSteps.addNoise(init, noise, schedule.sigma(0));
        return new Start(z, schedule, noise.toFloatArray(), null);
    }

    /**
     * The hires fix's second pass ({@link HiresFix}): the first pass's final latents upscaled to the hires size by
     * its latent upscaler, cropped to the target (centred, A1111's {@code truncate_x/y}), noised with the first draw
     * of a fresh generator of the seed to the first level of A1111's fixed-steps span of the request's schedule kind.
     */
    static Start hiresStart(TextToImage model, ResolvedRequest r, NDArray first, long[] firstShape, NDManager gen) {
        HiresFix h = r.hires();
        HiresFix.Target t = h.target(r.width(), r.height());
        int f = (int) (r.width() / firstShape[3]);
        int upH = t.upscaledHeight() / f;
        int upW = t.upscaledWidth() / f;
        float[] up = h.upscaler().resize(first.toFloatArray(), firstShape, upH, upW);
        int outH = t.height() / f;
        int outW = t.width() / f;
        float[] cropped = crop(up, (int) (firstShape[0] * firstShape[1]), upH, upW, outH, outW);
        Shape hrShape = new Shape(firstShape[0], firstShape[1], outH, outW);
        Img2ImgSteps.Span span = h.span(r.steps());
        SigmaSchedule schedule = r.schedule().build(model.noiseSchedule(), span.scheduleSteps()).tail(span.start());
        RngKind.SeedNoise fresh = r.rng().open(r.seed());
        NDArray noise = fresh.initial(gen, hrShape);
        NDArray z = Img2ImgSteps.addNoise(gen.create(cropped, hrShape), noise, schedule.sigma(0));
        return new Start(z, schedule, null, fresh);
    }

    /**
     * The centre {@code outH x outW} of each plane of {@code [planes, h, w]}: A1111 drops {@code (h - outH) // 2} rows
     * at the top and the rest at the bottom ({@code samples[:, :, t // 2 : h - (t + 1) // 2]}), likewise columns.
     */
    static float[] crop(float[] x, int planes, int h, int w, int outH, int outW) {
        if (outH == h && outW == w) {
            return x;
        }
        int top = (h - outH) / 2;
        int left = (w - outW) / 2;
        float[] out = new float[planes * outH * outW];
        for (int p = 0; p < planes; p++) {
            for (int y = 0; y < outH; y++) {
                System.arraycopy(x, (p * h + top + y) * w + left, out, (p * outH + y) * outW, outW);
            }
        }
        return out;
    }

    private static void checkLength(float[] latents, Shape shape, ResolvedRequest r) {
        if (latents.length != shape.size()) {
            throw new IllegalArgumentException("initial latents have " + latents.length + " values, expected "
                    + Arrays.toString(shape.getShape()) + " for " + r.width() + "x" + r.height());
        }
    }

    /**
     * The request as the hires pass conditions on it: its prompts over {@code steps} steps (prompt editing), the same
     * SDXL size conditioning.
     */
    private static ResolvedRequest withSteps(ResolvedRequest r, int steps) {
        return new ResolvedRequest(r.prompt(), r.negativePrompt(), steps, r.cfgScale(), r.seed(), r.sampler(), r.schedule(),
                r.gamma(), r.width(), r.height(), r.promptSyntax(), r.clipSkip(), r.rng(), null, null, r.micro());
    }

    /**
     * The sampler's step callback of a generation: reports each step as {@link StepProgress} to the options'
     * listener (x0-hat [1, C, h, w] copied to the host only when the listener asks, {@link StepProgress#x0hat}) and
     * keeps x0-hat in {@code x0hats} when asked.
     *
     * @param t0           {@link System#nanoTime} at the start of the generation (for {@code elapsedMs})
     * @param conditioning which prompt-schedule entries conditioned each 0-based step
     * @param offset       steps of earlier passes (the hires fix's first pass), added to each step's number
     * @param total        the steps of the whole generation ({@link ResolvedRequest#stepsRun}), -1: the pass's own
     */
    static StepListener stepListener(TextToImage.Options options, List<float[]> x0hats, long t0, int h, int w,
                                     IntFunction<String> conditioning, int offset, int total) {
        TextToImage.Listener listener = options.listener() == null ? TextToImage.Listener.NONE : options.listener();
        return e -> {
            // x0-hat stays on the device unless a listener (or keepX0hats) asks for it: no sync per step
            StepProgress p = StepProgress.onDevice(offset + e.index() + 1, total < 0 ? e.total() : total, e.sigma(), e.timestep(),
                    (System.nanoTime() - t0) / 1_000_000, e.x0hat(), h, w, conditioning.apply(e.index()));
            try {
                if (options.keepX0hats()) {
                    x0hats.add(p.x0hat());
                }
                return listener.onStep(p);
            } finally {
                p.release();
            }
        };
    }
}
