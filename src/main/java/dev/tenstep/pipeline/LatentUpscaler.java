package dev.tenstep.pipeline;

import java.util.Locale;

/**
 * AUTOMATIC1111's latent upscalers for the hires fix ({@code modules/shared.py}
 * {@code latent_upscale_modes}): {@code torch.nn.functional.interpolate(latents, size=(h', w'), mode,
 * antialias)} with {@code align_corners=False}, written out per PyTorch's CPU kernels
 * ({@code aten/src/ATen/native/UpSample.h}: {@code area_pixel_compute_source_index},
 * {@code cubic_convolution1/2} with A = -0.75), with the scale {@code r = in / out} that PyTorch uses
 * when a size is given:
 * <ul>
 *   <li>bilinear: {@code src = max((dst + 0.5) r - 0.5, 0)}, neighbours {@code floor(src)} and the next
 *       one (clamped), separably in y and x;</li>
 *   <li>bicubic: {@code src = (dst + 0.5) r - 0.5} (not clamped), four neighbours clamped to the border;</li>
 *   <li>nearest: {@code min(floor(dst r), in - 1)}; nearest-exact: {@code min(floor((dst + 0.5) r), in - 1)}.</li>
 * </ul>
 * The antialiased modes run PyTorch's separable antialias kernel ({@code UpSampleKernel.cpp}, the
 * Pillow-style filter): for output index i, {@code center = r (i + 0.5)}, support
 * {@code (taps / 2) max(r, 1)}, weights {@code filter((j - center + 0.5) / max(r, 1))} over the input
 * indices inside the support, normalised to sum 1; the bicubic filter there has A = -0.5 (Pillow's), not
 * -0.75. Upscaling bilinearly it equals the plain mode; bicubically it does not. Shrinking is refused.
 */
public enum LatentUpscaler {
    LATENT("Latent", Mode.BILINEAR, false),
    LATENT_ANTIALIASED("Latent (antialiased)", Mode.BILINEAR, true),
    LATENT_BICUBIC("Latent (bicubic)", Mode.BICUBIC, false),
    LATENT_BICUBIC_ANTIALIASED("Latent (bicubic antialiased)", Mode.BICUBIC, true),
    LATENT_NEAREST("Latent (nearest)", Mode.NEAREST, false),
    LATENT_NEAREST_EXACT("Latent (nearest-exact)", Mode.NEAREST_EXACT, false);

    private enum Mode { BILINEAR, BICUBIC, NEAREST, NEAREST_EXACT }

    private static final double A = -0.75;

    private final String a1111Name;
    private final Mode mode;
    private final boolean antialias;

    LatentUpscaler(String a1111Name, Mode mode, boolean antialias) {
        this.a1111Name = a1111Name;
        this.mode = mode;
        this.antialias = antialias;
    }

    /** The name A1111 shows and its API takes as {@code hr_upscaler}, e.g. {@code Latent (nearest-exact)}. */
    public String a1111Name() {
        return a1111Name;
    }

    /**
     * The upscaler of an A1111 name (case-insensitive).
     *
     * @throws IllegalArgumentException naming the known names
     */
    public static LatentUpscaler byName(String name) {
        for (LatentUpscaler u : values()) {
            if (u.a1111Name.equalsIgnoreCase(name.trim())) {
                return u;
            }
        }
        StringBuilder known = new StringBuilder();
        for (LatentUpscaler u : values()) {
            known.append(known.length() == 0 ? "" : ", ").append(u.a1111Name);
        }
        throw new IllegalArgumentException("unknown latent upscaler '" + name + "' (known: " + known + ")");
    }

    /**
     * Resizes latents.
     *
     * @param latents NCHW row-major, {@code n * c * h * w} values
     * @param shape   {@code [n, c, h, w]}
     * @param outH    target height in latent pixels (&gt;= 1)
     * @param outW    target width in latent pixels (&gt;= 1)
     * @return {@code [n, c, outH, outW]} row-major
     * @throws IllegalArgumentException for a bad shape or size, or shrinking with an antialiased mode
     */
    public float[] resize(float[] latents, long[] shape, int outH, int outW) {
        if (shape.length != 4 || latents.length != shape[0] * shape[1] * shape[2] * shape[3]) {
            throw new IllegalArgumentException("latents must be NCHW with " + latents.length + " values, got shape "
                    + java.util.Arrays.toString(shape));
        }
        int h = (int) shape[2];
        int w = (int) shape[3];
        if (outH < 1 || outW < 1) {
            throw new IllegalArgumentException("target size must be positive, got " + outW + "x" + outH);
        }
        if (outH < h || outW < w) {
            // the hires fix only enlarges; shrinking kernels are not checked against PyTorch here
            throw new IllegalArgumentException(a1111Name + " would shrink " + w + "x" + h + " to " + outW + "x" + outH
                    + ": latent upscalers only enlarge");
        }
        int planes = (int) (shape[0] * shape[1]);
        float[] out = new float[planes * outH * outW];
        double ry = h / (double) outH;
        double rx = w / (double) outW;
        if (antialias) {
            double[][] wy = aaWeights(h, outH, ry);
            double[][] wx = aaWeights(w, outW, rx);
            int[] y0 = aaStart(h, outH, ry);
            int[] x0 = aaStart(w, outW, rx);
            for (int p = 0; p < planes; p++) {
                int in0 = p * h * w;
                int out0 = p * outH * outW;
                for (int y = 0; y < outH; y++) {
                    for (int x = 0; x < outW; x++) {
                        double acc = 0;
                        for (int j = 0; j < wy[y].length; j++) {
                            double row = 0;
                            for (int i = 0; i < wx[x].length; i++) {
                                row += wx[x][i] * latents[in0 + (y0[y] + j) * w + x0[x] + i];
                            }
                            acc += wy[y][j] * row;
                        }
                        out[out0 + y * outW + x] = (float) acc;
                    }
                }
            }
            return out;
        }
        for (int p = 0; p < planes; p++) {
            int in0 = p * h * w;
            int out0 = p * outH * outW;
            for (int y = 0; y < outH; y++) {
                for (int x = 0; x < outW; x++) {
                    out[out0 + y * outW + x] = (float) sample(latents, in0, h, w, y, x, ry, rx);
                }
            }
        }
        return out;
    }

    private double sample(float[] in, int in0, int h, int w, int y, int x, double ry, double rx) {
        switch (mode) {
            case NEAREST, NEAREST_EXACT -> {
                double off = mode == Mode.NEAREST ? 0 : 0.5;
                int sy = Math.min((int) Math.floor((y + off) * ry), h - 1);
                int sx = Math.min((int) Math.floor((x + off) * rx), w - 1);
                return in[in0 + sy * w + sx];
            }
            case BILINEAR -> {
                double sy = Math.max((y + 0.5) * ry - 0.5, 0);
                double sx = Math.max((x + 0.5) * rx - 0.5, 0);
                int y0 = (int) sy;
                int x0 = (int) sx;
                int y1 = Math.min(y0 + 1, h - 1);
                int x1 = Math.min(x0 + 1, w - 1);
                double ly = sy - y0;
                double lx = sx - x0;
                return (1 - ly) * ((1 - lx) * in[in0 + y0 * w + x0] + lx * in[in0 + y0 * w + x1])
                        + ly * ((1 - lx) * in[in0 + y1 * w + x0] + lx * in[in0 + y1 * w + x1]);
            }
            default -> {
                double sy = (y + 0.5) * ry - 0.5;
                double sx = (x + 0.5) * rx - 0.5;
                int iy = (int) Math.floor(sy);
                int ix = (int) Math.floor(sx);
                double[] wy = cubicWeights(sy - iy);
                double[] wx = cubicWeights(sx - ix);
                double acc = 0;
                for (int j = 0; j < 4; j++) {
                    int yy = Math.min(Math.max(iy - 1 + j, 0), h - 1);
                    double row = 0;
                    for (int i = 0; i < 4; i++) {
                        int xx = Math.min(Math.max(ix - 1 + i, 0), w - 1);
                        row += wx[i] * in[in0 + yy * w + xx];
                    }
                    acc += wy[j] * row;
                }
                return acc;
            }
        }
    }

    private double support(double r) {
        return (mode == Mode.BICUBIC ? 2 : 1) * Math.max(r, 1);
    }

    private int[] aaStart(int in, int out, double r) {
        int[] start = new int[out];
        for (int i = 0; i < out; i++) {
            start[i] = Math.max((int) (r * (i + 0.5) - support(r) + 0.5), 0);
        }
        return start;
    }

    /** Per output index, the normalised antialias weights of the input indices from {@link #aaStart} on. */
    private double[][] aaWeights(int in, int out, double r) {
        double support = support(r);
        double invScale = r >= 1 ? 1 / r : 1;
        double[][] weights = new double[out][];
        for (int i = 0; i < out; i++) {
            double center = r * (i + 0.5);
            int xmin = Math.max((int) (center - support + 0.5), 0);
            int xsize = Math.min((int) (center + support + 0.5), in) - xmin;
            double[] wt = new double[Math.max(xsize, 0)];
            double total = 0;
            for (int j = 0; j < wt.length; j++) {
                wt[j] = filter((j + xmin - center + 0.5) * invScale);
                total += wt[j];
            }
            for (int j = 0; j < wt.length; j++) {
                wt[j] = total == 0 ? 0 : wt[j] / total;
            }
            weights[i] = wt;
        }
        return weights;
    }

    /** The antialias filter: triangle for bilinear, Pillow's cubic (A = -0.5) for bicubic. */
    private double filter(double x) {
        double ax = Math.abs(x);
        if (mode == Mode.BILINEAR) {
            return Math.max(0, 1 - ax);
        }
        double a = -0.5;
        if (ax < 1) {
            return ((a + 2) * ax - (a + 3)) * ax * ax + 1;
        }
        if (ax < 2) {
            return (((ax - 5) * ax + 8) * ax - 4) * a;
        }
        return 0;
    }

    /** PyTorch's {@code get_cubic_upsample_coefficients}: the weights of neighbours -1, 0, +1, +2 at offset t. */
    private static double[] cubicWeights(double t) {
        return new double[] {cc2(t + 1), cc1(t), cc1(1 - t), cc2(2 - t)};
    }

    private static double cc1(double x) {
        return ((A + 2) * x - (A + 3)) * x * x + 1;
    }

    private static double cc2(double x) {
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    }

    @Override
    public String toString() {
        return a1111Name.toLowerCase(Locale.ROOT);
    }
}
