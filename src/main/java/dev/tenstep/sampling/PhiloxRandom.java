package dev.tenstep.sampling;

/**
 * {@code torch.randn} on an NVIDIA GPU after {@code torch.manual_seed(seed)}, reproduced on the CPU as
 * AUTOMATIC1111's "NV" RNG source does (its default "GPU" source draws the same numbers on NVIDIA cards;
 * stable-diffusion.cpp's {@code cuda} RNG too).
 *
 * <p>Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011) with key = the
 * 64-bit seed (low word first) and, for element i of a draw, counter = (offset, 0, i, 0); the first two output
 * words x, y give one normal by Box-Muller, keeping only the sine branch:
 * {@code u = x 2^-32 + 2^-33}, {@code v = (y 2^-32 + 2^-33) 2 pi}, {@code out = sqrt(-2 ln u) sin v}
 * (the constants are the float32 values of 2^-32 and 2^-32 * 2 pi; the arithmetic is double, rounded to float32
 * at the end). Each {@link #randn} call advances the offset by one.
 *
 * <p>Stateful and not thread-safe; one instance per generation.
 */
public final class PhiloxRandom implements GaussianStream {
    private static final int M0 = 0xD2511F53;
    private static final int M1 = 0xCD9E8D57;
    private static final int W0 = 0x9E3779B9;
    private static final int W1 = 0xBB67AE85;
    /** float32(2.3283064e-10), about 2^-32. */
    private static final double TWO_POW32_INV = 2.3283064e-10f;
    /** float32(2.3283064e-10 * 6.2831855), about 2^-32 * 2 pi. */
    private static final double TWO_POW32_INV_2PI = (float) (2.3283064e-10 * 6.2831855);

    private final long seed;
    private int offset;

    /** A generator after {@code manual_seed(seed)}, offset 0. */
    public PhiloxRandom(long seed) {
        this.seed = seed;
    }

    @Override
    public long seed() {
        return seed;
    }

    /**
     * The next {@code n} N(0, 1) float32 values (one {@code torch.randn} call of n elements), row-major.
     *
     * @throws IllegalArgumentException if n &lt; 0
     */
    @Override
    public float[] randn(int n) {
        if (n < 0) {
            throw new IllegalArgumentException("n must be >= 0, got " + n);
        }
        float[] out = new float[n];
        int k0 = (int) seed;
        int k1 = (int) (seed >>> 32);
        int[] c = new int[4];
        for (int i = 0; i < n; i++) {
            c[0] = offset;
            c[1] = 0;
            c[2] = i;
            c[3] = 0;
            philox(c, k0, k1);
            double u = (c[0] & 0xffffffffL) * TWO_POW32_INV + (float) (TWO_POW32_INV / 2);
            double v = (c[1] & 0xffffffffL) * TWO_POW32_INV_2PI + (float) (TWO_POW32_INV_2PI / 2);
            out[i] = (float) (Math.sqrt(-2.0 * Math.log(u)) * Math.sin(v));
        }
        offset++;
        return out;
    }

    /** Ten Philox rounds on counter {@code c} with key (k0, k1), in place. */
    static void philox(int[] c, int k0, int k1) {
        for (int round = 0; round < 10; round++) {
            if (round > 0) {
                k0 += W0;
                k1 += W1;
            }
            long p0 = (c[0] & 0xffffffffL) * (M0 & 0xffffffffL);
            long p1 = (c[2] & 0xffffffffL) * (M1 & 0xffffffffL);
            int n0 = (int) (p1 >>> 32) ^ c[1] ^ k0;
            int n1 = (int) p1;
            int n2 = (int) (p0 >>> 32) ^ c[3] ^ k1;
            int n3 = (int) p0;
            c[0] = n0;
            c[1] = n1;
            c[2] = n2;
            c[3] = n3;
        }
    }
}
