package dev.tenstep.sampling;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import java.util.Arrays;
import java.util.Locale;

/**
 * Which random number generator turns a seed into the initial latent and the per-step noise.
 * <ul>
 *   <li>{@link #PHILOX}: {@code torch.randn} on an NVIDIA GPU ({@link PhiloxRandom}): AUTOMATIC1111's default
 *       "GPU" source and its "NV" source, stable-diffusion.cpp's {@code cuda} RNG;</li>
 *   <li>{@link #TORCH_CPU}: {@code torch.randn} on a CPU generator ({@link TorchCpuRandom}): diffusers pipelines
 *       given {@code torch.Generator("cpu").manual_seed(seed)}, A1111's "CPU" source;</li>
 *   <li>{@link #TENSTEP}: this product's own per-(seed, step) streams ({@link SeededRandom}), the default
 *       before version 0.2.</li>
 * </ul>
 * With the two torch generators the initial latent is the first draw of one generator and each noisy step
 * draws the next, in the order those tools draw them.
 */
public enum RngKind {
    PHILOX("philox", "NV"),
    TORCH_CPU("torch-cpu", "CPU"),
    TENSTEP("tenstep", "tenstep");

    /** The default for new requests: the same pictures as A1111's default for a seed. */
    public static final RngKind DEFAULT = PHILOX;

    private final String id;
    private final String infotext;

    RngKind(String id, String infotext) {
        this.id = id;
        this.infotext = infotext;
    }

    /** The option value: {@code philox}, {@code torch-cpu} or {@code tenstep}. */
    public String id() {
        return id;
    }

    /** The infotext value, A1111's {@code RNG:} names ({@code NV}, {@code CPU}) and {@code tenstep}. */
    public String infotext() {
        return infotext;
    }

    /**
     * Parses an option or infotext value: {@code philox}, {@code torch-cpu}, {@code tenstep}, and A1111's
     * {@code GPU}, {@code NV}, {@code CPU} (case-insensitive).
     *
     * @throws IllegalArgumentException naming the valid values
     */
    public static RngKind parse(String s) {
        String v = s == null ? "" : s.strip().toLowerCase(Locale.ROOT);
        switch (v) {
            case "philox", "gpu", "nv", "cuda" -> {
                return PHILOX;
            }
            case "torch-cpu", "cpu" -> {
                return TORCH_CPU;
            }
            case "tenstep" -> {
                return TENSTEP;
            }
            default -> throw new IllegalArgumentException("unknown rng '" + s + "' (valid: "
                    + String.join(", ", Arrays.stream(values()).map(RngKind::id).toList()) + ")");
        }
    }

    /** The first {@code n} values a fresh generator of {@code seed} draws: the initial latent, row-major. */
    public float[] initialDraw(long seed, int n) {
        return switch (this) {
            case PHILOX -> new PhiloxRandom(seed).randn(n);
            case TORCH_CPU -> new TorchCpuRandom(seed).randn(n);
            case TENSTEP -> new SeededRandom(seed).nextGaussians(n);
        };
    }

    /**
     * The second {@code n}-value draw of a fresh generator of {@code seed} ({@link SeedNoise#next} after
     * {@link SeedNoise#initial}): an img2img run's noise, drawn after the VAE encoder's sample, row-major.
     */
    public float[] secondDraw(long seed, int n) {
        return switch (this) {
            case PHILOX -> {
                PhiloxRandom p = new PhiloxRandom(seed);
                p.randn(n);
                yield p.randn(n);
            }
            case TORCH_CPU -> {
                TorchCpuRandom t = new TorchCpuRandom(seed);
                t.randn(n);
                yield t.randn(n);
            }
            case TENSTEP -> new SeededRandom(seed, TENSTEP_SECOND_STREAM).nextGaussians(n);
        };
    }

    /**
     * The {@link SeededRandom} stream of the tenstep generator's second draw ({@link SeedNoise#next}): stream 0 is the
     * initial draw and streams 1, 2, ... the per-step noise ({@link NoiseSource#seeded}), so it is one of its own.
     */
    static final long TENSTEP_SECOND_STREAM = -1L;

    /** A fresh generator for one generation (initial latent, then per-step noise). */
    public SeedNoise open(long seed) {
        return switch (this) {
            case PHILOX -> SeedNoise.of(new PhiloxRandom(seed));
            case TORCH_CPU -> SeedNoise.of(new TorchCpuRandom(seed));
            case TENSTEP -> new SeedNoise() {
                @Override
                public NDArray initial(NDManager manager, Shape shape) {
                    return SeededRandom.latent(seed, manager, shape);
                }

                @Override
                public NDArray next(NDManager manager, Shape shape) {
                    return new SeededRandom(seed, TENSTEP_SECOND_STREAM).normal(manager, shape);
                }

                @Override
                public NoiseSource perStep() {
                    return NoiseSource.seeded(seed);
                }
            };
        };
    }

    /** The initial latent and the per-step noise of one seed; stateful, one per generation. */
    public interface SeedNoise {
        /** The unit-variance initial latent z_init of the given shape (NCHW), float32, created in {@code manager}. */
        NDArray initial(NDManager manager, Shape shape);

        /**
         * The draw after {@link #initial} (an img2img run's noise, after the VAE encoder's sample took the initial
         * draw: diffusers' order), float32 unit variance; with a torch generator the stream's next values, with the
         * tenstep generator a stream of its own. Call it at most once, after {@link #initial}.
         */
        NDArray next(NDManager manager, Shape shape);

        /** The per-step noise; with a torch generator, each request continues after the initial latent's draw. */
        NoiseSource perStep();

        /** Over one stream: the initial latent is the first draw, each noise request the next. */
        static SeedNoise of(GaussianStream stream) {
            return new SeedNoise() {
                @Override
                public NDArray initial(NDManager manager, Shape shape) {
                    return manager.create(stream.randn(Math.toIntExact(shape.size())), shape);
                }

                @Override
                public NDArray next(NDManager manager, Shape shape) {
                    return initial(manager, shape);
                }

                @Override
                public NoiseSource perStep() {
                    return (step, manager, shape) -> manager.create(stream.randn(Math.toIntExact(shape.size())), shape);
                }
            };
        }
    }
}
