package dev.tenstep.sampling;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import java.util.SplittableRandom;

/**
 * Per-request Gaussian noise ({@code docs/samplers.md} section 5): an independent generator per (seed, stream), with no
 * global or shared state, so concurrent requests never influence each other and the same seed gives the
 * same numbers bit for bit on every run and thread (and every platform: {@link SplittableRandom} is
 * fully specified and the transforms use {@link StrictMath}).
 *
 * <p>Algorithm: {@link SplittableRandom} (SplitMix64) seeded with a SplitMix64 mix of (seed, stream),
 * then the Box-Muller transform, pairs of float32 N(0, 1) values in row-major order.
 * Stream 0 is the initial latent {@code z_init}; {@link NoiseSource#seeded} uses streams 1, 2, ... for the
 * per-step noise {@code w_i}.
 *
 * <p>An instance is stateful and not thread-safe; create one per request (they are cheap).
 */
public final class SeededRandom {
    private final SplittableRandom rng;
    private final long seed;
    private final long stream;

    /** Stream 0 of {@code seed} (the initial latent). */
    public SeededRandom(long seed) {
        this(seed, 0L);
    }

    /** Stream {@code stream} of {@code seed}; different (seed, stream) pairs give independent sequences. */
    public SeededRandom(long seed, long stream) {
        this.seed = seed;
        this.stream = stream;
        this.rng = new SplittableRandom(mix64(mix64(seed) ^ (stream * 0x9E3779B97F4A7C15L + 0x632BE59BD9B4E019L)));
    }

    /** The seed. */
    public long seed() {
        return seed;
    }

    /** The stream number. */
    public long stream() {
        return stream;
    }

    /** The next {@code n} standard normal float32 values. */
    public float[] nextGaussians(int n) {
        if (n < 0) {
            throw new IllegalArgumentException("n must be >= 0, got " + n);
        }
        float[] out = new float[n];
        for (int i = 0; i < n; i += 2) {
            double u1 = 1.0 - rng.nextDouble(); // (0, 1]
            double u2 = rng.nextDouble();
            double r = StrictMath.sqrt(-2.0 * StrictMath.log(u1));
            double a = 2.0 * Math.PI * u2;
            out[i] = (float) (r * StrictMath.cos(a));
            if (i + 1 < n) {
                out[i + 1] = (float) (r * StrictMath.sin(a));
            }
        }
        return out;
    }

    /**
     * A float32 N(0, I) array of the given shape, created in {@code manager}.
     *
     * @throws IllegalArgumentException if the shape has more than {@code Integer.MAX_VALUE} elements
     */
    public NDArray normal(NDManager manager, Shape shape) {
        long size = shape.size();
        if (size > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("shape too large: " + shape);
        }
        return manager.create(nextGaussians((int) size), shape);
    }

    /** The initial latent {@code z_init ~ N(0, I)} of a seed: stream 0, float32, in {@code manager}. */
    public static NDArray latent(long seed, NDManager manager, Shape shape) {
        return new SeededRandom(seed).normal(manager, shape);
    }

    /** SplitMix64 finaliser (Steele, Lea and Flood 2014). */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
