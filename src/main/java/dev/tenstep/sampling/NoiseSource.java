package dev.tenstep.sampling;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * The per-step noise {@code w_i ~ N(0, I)} of a stochastic sampler ({@code mu > 0}, {@code docs/samplers.md} section 3, "mu").
 * Only asked for steps that add noise.
 */
@FunctionalInterface
public interface NoiseSource {
    /**
     * @param step    the 0-based step index k (k = 0 is the first, highest-noise step)
     * @param manager where to create the result (the caller closes it)
     * @param shape   the latent shape, e.g. [1, 4, h, w]
     * @return float32 N(0, I) noise of that shape, a new array in {@code manager}
     */
    NDArray noise(int step, NDManager manager, Shape shape);

    /**
     * Seeded noise: step k uses {@link SeededRandom} stream {@code k + 1} of the seed (stream 0 is z_init), so
     * each step's noise depends only on (seed, k, shape), not on which earlier steps drew noise.
     */
    static NoiseSource seeded(long seed) {
        return (step, manager, shape) -> new SeededRandom(seed, step + 1L).normal(manager, shape);
    }

    /**
     * Noise read from a saved tensor {@code [N, ...shape]} (e.g. the saved per-step noise
     * [10, 1, 4, h, w] of a reference run, as {@code SamplerTest} uses); step k gets row k. The tensor is borrowed, not closed.
     *
     * @throws IllegalArgumentException (when asked) if k is out of range or the row's shape differs
     */
    static NoiseSource fromTensor(NDArray perStep) {
        return (step, manager, shape) -> {
            long n = perStep.getShape().get(0);
            if (step < 0 || step >= n) {
                throw new IllegalArgumentException("noise tensor has " + n + " steps, step " + step + " requested");
            }
            NDArray row = perStep.get(manager, step);
            if (!row.getShape().equals(shape)) {
                throw new IllegalArgumentException("noise row shape " + row.getShape() + " differs from latent shape " + shape);
            }
            return row;
        };
    }

    /** For deterministic samplers (mu = 0): fails if noise is ever requested. */
    static NoiseSource none() {
        return (step, manager, shape) -> {
            throw new IllegalStateException("this sampler needs per-step noise (mu > 0) but no NoiseSource was given");
        };
    }
}
