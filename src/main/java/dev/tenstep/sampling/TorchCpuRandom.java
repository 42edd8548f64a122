package dev.tenstep.sampling;

/**
 * {@code torch.randn} on a CPU generator, number for number: what diffusers pipelines draw with
 * {@code torch.Generator("cpu").manual_seed(seed)} and what AUTOMATIC1111 draws with its "CPU" RNG source.
 *
 * <p>The algorithm, as PyTorch's CPU generator and {@code normal_kernel} compute it (ATen
 * {@code core/MT19937RNGEngine.h}, {@code native/cpu/DistributionTemplates.h}):
 * <ul>
 *   <li>mt19937 seeded with the low 32 bits of the seed ({@code manual_seed} keeps 64 bits, the engine uses 32);</li>
 *   <li>a float uniform is {@code (next32 & 0xFFFFFF) * 2^-24}, in [0, 1);</li>
 *   <li>n &gt;= 16 values: n uniforms are drawn, then each block of 16 becomes 16 normals by Box-Muller,
 *       {@code u1 = 1 - U[j]}, {@code u2 = U[j + 8]}, {@code r = sqrt(-2 log u1)}, {@code theta = 2 pi u2},
 *       {@code out[j] = r cos(theta)}, {@code out[j + 8] = r sin(theta)} (j = 0..7), in float32; when n is not
 *       a multiple of 16, the last 16 positions are redrawn from 16 fresh uniforms and transformed again;</li>
 *   <li>n &lt; 16 values: one double-precision Box-Muller pair per two values from 53-bit uniforms
 *       ({@code (hi << 32 | lo) & (2^53 - 1)) * 2^-53}), the second value of a pair cached in the generator.</li>
 * </ul>
 * The float path uses the single-precision log/sin/cos of PyTorch's AVX2 kernel (the x86 build every
 * desktop runs), reproduced operation for operation, so the draws match bit for bit.
 *
 * <p>Stateful: successive {@link #randn} calls continue the stream, as successive {@code torch.randn} calls on
 * one generator do (initial latent, then per-step noise). Not thread-safe; one instance per generation.
 */
public final class TorchCpuRandom implements GaussianStream {
    private static final int N = 624;
    private static final int M = 397;
    private final int[] mt = new int[N];
    private int index;
    private final long seed;
    private Double nextDoubleNormal;

    /** A generator after {@code manual_seed(seed)} (any 64-bit seed; the engine keeps the low 32 bits). */
    public TorchCpuRandom(long seed) {
        this.seed = seed;
        mt[0] = (int) seed;
        for (int j = 1; j < N; j++) {
            mt[j] = 1812433253 * (mt[j - 1] ^ (mt[j - 1] >>> 30)) + j;
        }
        index = N;
    }

    @Override
    public long seed() {
        return seed;
    }

    /** The next 32-bit mt19937 output, as an unsigned value in an int. */
    int next32() {
        if (index >= N) {
            twist();
        }
        int y = mt[index++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        return y;
    }

    private void twist() {
        for (int i = 0; i < N; i++) {
            int y = (mt[i] & 0x80000000) | (mt[(i + 1) % N] & 0x7fffffff);
            int v = mt[(i + M) % N] ^ (y >>> 1);
            if ((y & 1) != 0) {
                v ^= 0x9908b0df;
            }
            mt[i] = v;
        }
        index = 0;
    }

    private float uniformFloat() {
        return (next32() & 0xFFFFFF) * 0x1.0p-24f;
    }

    private double uniformDouble() {
        long hi = next32() & 0xffffffffL;
        long lo = next32() & 0xffffffffL;
        return (((hi << 32) | lo) & ((1L << 53) - 1)) * 0x1.0p-53;
    }

    /**
     * The next {@code n} N(0, 1) float32 values, as {@code torch.randn(n)} (or any shape with n elements) on this
     * generator returns them, row-major.
     *
     * @throws IllegalArgumentException if n &lt; 0
     */
    @Override
    public float[] randn(int n) {
        if (n < 0) {
            throw new IllegalArgumentException("n must be >= 0, got " + n);
        }
        float[] data = new float[n];
        if (n >= 16) {
            for (int i = 0; i < n; i++) {
                data[i] = uniformFloat();
            }
            for (int i = 0; i + 16 <= n; i += 16) {
                fill16(data, i);
            }
            if (n % 16 != 0) {
                int start = n - 16;
                for (int i = 0; i < 16; i++) {
                    data[start + i] = uniformFloat();
                }
                fill16(data, start);
            }
        } else {
            for (int i = 0; i < n; i++) {
                data[i] = (float) nextDoubleNormal();
            }
        }
        return data;
    }

    /**
     * Box-Muller on 16 uniforms in place, as PyTorch's AVX2 {@code normal_fill_16_AVX2} computes it in float32:
     * {@code radius = sqrt(-2 * log(1 - U[j]))}, {@code theta = float(2 pi) * U[j + 8]}, with the Cephes-derived
     * single-precision {@link #logf} and {@link #sincosf} of {@code avx_mathfun.h} (not correctly rounded, so
     * {@code Math.log}/{@code Math.sin} would differ in the last bits).
     */
    private static void fill16(float[] d, int off) {
        float[] sc = new float[2];
        for (int j = 0; j < 8; j++) {
            float u1 = 1f - d[off + j];
            float u2 = d[off + j + 8];
            float radius = (float) Math.sqrt(-2f * logf(u1));
            float theta = TWO_PI_F * u2;
            sincosf(theta, sc);
            d[off + j] = radius * sc[1];
            d[off + j + 8] = radius * sc[0];
        }
    }

    private static final float TWO_PI_F = (float) (2.0 * Math.PI);

    /**
     * Natural log of a positive float, single precision (Cephes {@code logf} as vectorised in
     * {@code avx_mathfun.h}): x = m 2^e with m in [sqrt(1/2), sqrt(2)), log = P(m - 1) + e ln 2, ln 2 split in two
     * parts. Each operation rounds to float32 in the order of the vector code, and the multiply-adds that the
     * compiler of PyTorch's x86 build fuses into FMA instructions are fused here too ({@link Math#fma}): the fixture
     * draws match bit for bit only with exactly this pattern.
     */
    static float logf(float x) {
        if (!(x > 0)) {
            return x == 0 ? Float.NEGATIVE_INFINITY : Float.NaN;
        }
        x = Math.max(x, Float.MIN_NORMAL);
        int bits = Float.floatToRawIntBits(x);
        int imm0 = (bits >>> 23) - 0x7f;
        x = Float.intBitsToFloat((bits & ~0x7f800000) | Float.floatToRawIntBits(0.5f));
        float e = (float) imm0 + 1f;
        boolean small = x < 0.707106781186547524f;
        float tmp = small ? x : 0f;
        x = x - 1f;
        if (small) {
            e = e - 1f;
        }
        x = x + tmp;
        float z = x * x;
        float y = 7.0376836292E-2f;
        y = Math.fma(y, x, -1.1514610310E-1f);
        y = Math.fma(y, x, 1.1676998740E-1f);
        y = Math.fma(y, x, -1.2420140846E-1f);
        y = Math.fma(y, x, 1.4249322787E-1f);
        y = Math.fma(y, x, -1.6668057665E-1f);
        y = Math.fma(y, x, 2.0000714765E-1f);
        y = Math.fma(y, x, -2.4999993993E-1f);
        y = Math.fma(y, x, 3.3333331174E-1f);
        y = y * x;
        y = Math.fma(y, z, e * -2.12194440e-4f);
        y = Math.fma(-z, 0.5f, y);
        x = x + y;
        x = Math.fma(e, 0.693359375f, x);
        return x;
    }

    /**
     * Sine and cosine in single precision (Cephes {@code sinf}/{@code cosf} as vectorised in
     * {@code avx_mathfun.h}): octant j from x 4/pi, three-part extended-precision subtraction of j pi/4, then the
     * sine or cosine polynomial per octant, with the same FMA fusion as {@link #logf}. Writes
     * {@code out[0] = sin x}, {@code out[1] = cos x}.
     */
    static void sincosf(float x, float[] out) {
        boolean negative = x < 0;
        x = Math.abs(x);
        float y = x * 1.27323954473516f;
        int j = (int) y;
        j = (j + 1) & ~1;
        y = (float) j;
        boolean swapSin = (j & 4) != 0;
        boolean sinPoly = (j & 2) == 0;
        x = Math.fma(y, -0.78515625f, x);
        x = Math.fma(y, -2.4187564849853515625e-4f, x);
        x = Math.fma(y, -3.77489497744594108e-8f, x);
        boolean negCos = (~(j - 2) & 4) != 0;
        boolean negSin = negative ^ swapSin;
        float z = x * x;
        float c = 2.443315711809948E-005f;
        c = c * z + -1.388731625493765E-003f;
        c = c * z + 4.166664568298827E-002f;
        c = c * z;
        c = Math.fma(c, z, -(z * 0.5f));
        c = c + 1f;
        float s = -1.9515295891E-4f;
        s = Math.fma(s, z, 8.3321608736E-3f);
        s = Math.fma(s, z, -1.6666654611E-1f);
        s = s * z;
        s = Math.fma(s, x, x);
        float sin = sinPoly ? s : c;
        float cos = sinPoly ? c : s;
        out[0] = negSin ? -sin : sin;
        out[1] = negCos ? -cos : cos;
    }

    /** PyTorch {@code normal_distribution<double>}: one pair per two calls, second value cached. */
    private double nextDoubleNormal() {
        if (nextDoubleNormal != null) {
            double v = nextDoubleNormal;
            nextDoubleNormal = null;
            return v;
        }
        double u1 = uniformDouble();
        double u2 = uniformDouble();
        double r = Math.sqrt(-2.0 * Math.log(1.0 - u2));
        double theta = 2.0 * Math.PI * u1;
        nextDoubleNormal = r * Math.sin(theta);
        return r * Math.cos(theta);
    }
}
