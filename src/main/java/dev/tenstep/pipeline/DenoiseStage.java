package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
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
 * The one generation path of every {@link TextToImage} (Stable Diffusion, the ideal denoiser, next SDXL), in the
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
        SigmaSchedule schedule = r.schedule().build(model.noiseSchedule(), r.steps());
        LatentSampler sampler = r.sampler().sampler(r.gamma());
        try (NDManager gen = model.newManager()) {
            TextToImage.Conditioned cond = model.condition(r, embedding, gen);
            long tText = System.nanoTime();

            RngKind.SeedNoise seedNoise = r.rng().open(r.seed());
            NDArray zInit = seedNoise.initial(gen, shape);
            if (options.initLatents() != null) {
                if (options.initLatents().length != shape.size()) {
                    throw new IllegalArgumentException("initial latents have " + options.initLatents().length
                            + " values, expected " + Arrays.toString(latentShape) + " for " + r.width() + "x" + r.height());
                }
                // the seed's draw was still taken, so the per-step noise is the same as with the seed's latents
                zInit.close();
                zInit = gen.create(options.initLatents(), shape);
            }
            float[] initial = zInit.toFloatArray();

            List<float[]> x0hats = new ArrayList<>();
            NDArray zFinal = sampler.sample(cond.denoiser(), zInit, schedule, seedNoise.perStep(),
                    stepListener(options, x0hats, t0, (int) latentShape[2], (int) latentShape[3], cond.entryAt()));
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
                    schedule.timesteps(), schedule.sigmas(), cond.warnings(),
                    new GenerationResult.Timings((tText - t0) / 1_000_000, (tDenoise - tText) / 1_000_000,
                            (tEnd - tDenoise) / 1_000_000, (tEnd - t0) / 1_000_000), initial);
        }
    }

    /**
     * The sampler's step callback of a generation: reports each step as {@link StepProgress} to the options'
     * listener (x0-hat [1, C, h, w] copied to the host only when the listener asks, {@link StepProgress#x0hat}) and
     * keeps x0-hat in {@code x0hats} when asked.
     *
     * @param t0           {@link System#nanoTime} at the start of the generation (for {@code elapsedMs})
     * @param conditioning which prompt-schedule entries conditioned each 0-based step
     */
    static StepListener stepListener(TextToImage.Options options, List<float[]> x0hats, long t0, int h, int w,
                                     IntFunction<String> conditioning) {
        TextToImage.Listener listener = options.listener() == null ? TextToImage.Listener.NONE : options.listener();
        return e -> {
            // x0-hat stays on the device unless a listener (or keepX0hats) asks for it: no sync per step
            StepProgress p = StepProgress.onDevice(e.index() + 1, e.total(), e.sigma(), e.timestep(),
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
