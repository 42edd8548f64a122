package dev.tenstep.bench;

import dev.tenstep.model.nn.AttentionSettings;
import dev.tenstep.pipeline.ComputeSpec;

import java.nio.file.Path;

/**
 * What {@link Bench} runs.
 *
 * @param model          a diffusers pipeline folder
 * @param randomWeights  read only the folder's config files and use seeded random weights
 * @param width          image width (null: the model's default)
 * @param height         image height (null: the model's default)
 * @param steps          denoising steps per generation
 * @param cfgScale       guidance scale (&gt; 1: CFG batch 2)
 * @param warmup         unmeasured generations first
 * @param repeat         measured generations
 * @param threads        intra-op threads (&lt;= 0: the machine's cores)
 * @param attention      how attention is computed during the run (null: {@link AttentionSettings#DEFAULT})
 * @param profile        time per module type
 * @param seed           generation and weight seed
 * @param compute        device and dtypes
 * @param strength       img2img at this denoising strength from a synthetic init image of the size (null: text-to-image)
 */
public record BenchOptions(Path model, boolean randomWeights, Integer width, Integer height,
                           int steps, double cfgScale, int warmup, int repeat, int threads,
                           AttentionSettings attention, boolean profile, long seed, ComputeSpec compute,
                           Double strength) {
    /** Text-to-image. */
    public BenchOptions(Path model, boolean randomWeights, Integer width, Integer height, int steps, double cfgScale,
                        int warmup, int repeat, int threads, AttentionSettings attention, boolean profile, long seed,
                        ComputeSpec compute) {
        this(model, randomWeights, width, height, steps, cfgScale, warmup, repeat, threads, attention, profile, seed,
                compute, null);
    }

    /** On the CPU in fp32. */
    public BenchOptions(Path model, boolean randomWeights, Integer width, Integer height, int steps, double cfgScale,
                        int warmup, int repeat, int threads, AttentionSettings attention, boolean profile,
                        long seed) {
        this(model, randomWeights, width, height, steps, cfgScale, warmup, repeat, threads, attention,
                profile, seed, ComputeSpec.CPU);
    }

    /** @throws IllegalArgumentException naming the option out of range */
    public BenchOptions {
        attention = attention == null ? AttentionSettings.DEFAULT : attention;
        // the pipeline applies the attention setting it is given with its compute settings
        compute = (compute == null ? ComputeSpec.CPU : compute).withAttention(attention);
        if (steps < 1) {
            throw new IllegalArgumentException("--steps must be >= 1");
        }
        if (repeat < 1) {
            throw new IllegalArgumentException("--repeat must be >= 1");
        }
        if (warmup < 0) {
            throw new IllegalArgumentException("--warmup must be >= 0");
        }
        if (strength != null && !(strength > 0 && strength <= 1)) {
            throw new IllegalArgumentException("--strength must be above 0 and at most 1, got " + strength);
        }
    }
}
