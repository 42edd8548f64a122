package dev.tenstep.bench;

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
 * @param attentionSlice {@code fused} (libtorch's tiled kernel), or the score matrix in query slices:
 *                       {@code auto} (from the budget), {@code off} (one slice) or N query rows per slice
 * @param attentionBudgetMb budget of one attention score slice for {@code auto}, MiB (&lt;= 0: default)
 * @param profile        time per module type
 * @param seed           generation and weight seed
 * @param compute        device and dtypes
 */
public record BenchOptions(Path model, boolean randomWeights, Integer width, Integer height,
                           int steps, double cfgScale, int warmup, int repeat, int threads, String attentionSlice,
                           long attentionBudgetMb, boolean profile, long seed, ComputeSpec compute) {
    /** On the CPU in fp32. */
    public BenchOptions(Path model, boolean randomWeights, Integer width, Integer height, int steps, double cfgScale,
                        int warmup, int repeat, int threads, String attentionSlice, long attentionBudgetMb, boolean profile,
                        long seed) {
        this(model, randomWeights, width, height, steps, cfgScale, warmup, repeat, threads, attentionSlice,
                attentionBudgetMb, profile, seed, ComputeSpec.CPU);
    }

    public BenchOptions {
        compute = compute == null ? ComputeSpec.CPU : compute;
        if (steps < 1) {
            throw new IllegalArgumentException("--steps must be >= 1");
        }
        if (repeat < 1) {
            throw new IllegalArgumentException("--repeat must be >= 1");
        }
        if (warmup < 0) {
            throw new IllegalArgumentException("--warmup must be >= 0");
        }
        attentionSlice = attentionSlice == null ? "fused" : attentionSlice.trim().toLowerCase(java.util.Locale.ROOT);
        if (!attentionSlice.equals("fused") && !attentionSlice.equals("auto") && !attentionSlice.equals("off")) {
            try {
                if (Long.parseLong(attentionSlice) < 0) {
                    throw new NumberFormatException();
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--attention-slice must be fused, auto, off or a number of query rows, got "
                        + attentionSlice);
            }
        }
    }
}
