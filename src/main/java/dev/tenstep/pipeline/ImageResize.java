package dev.tenstep.pipeline;

/**
 * Pillow's {@code Image.resize((w, h), Image.LANCZOS)} on 8-bit RGB, which AUTOMATIC1111's "Just resize"
 * ({@code images.resize_image} mode 0 with no upscaler, the default) runs on an img2img init image, written out
 * per Pillow's {@code libImaging/Resample.c}: a separable convolution, horizontal pass first, each output pixel
 * {@code xx} centred at {@code (xx + 0.5) * scale} of the input ({@code scale = in / out}); the Lanczos filter
 * {@code sinc(x) sinc(x / 3)} on {@code |x| < 3}, widened by {@code max(scale, 1)} when shrinking; coefficients
 * normalised to sum 1, then rounded to 22-bit fixed point ({@code PRECISION_BITS = 32 - 8 - 2}); each pass rounds
 * and clamps to 8 bits. An image of the target size is returned unchanged, as Pillow returns a copy.
 */
final class ImageResize {
    private static final int PRECISION_BITS = 32 - 8 - 2;
    private static final double SUPPORT = 3.0;

    private ImageResize() {
    }

    /**
     * @param planes 8-bit channel planes, each {@code w * h} row-major values 0..255
     * @return the planes resized to {@code outW x outH}
     */
    static int[][] lanczos(int[][] planes, int w, int h, int outW, int outH) {
        if (w == outW && h == outH) {
            return planes;
        }
        Coefficients horiz = coefficients(w, outW);
        Coefficients vert = coefficients(h, outH);
        int[][] out = new int[planes.length][];
        for (int c = 0; c < planes.length; c++) {
            int[] p = planes[c];
            int rows = h;
            int first = 0;
            if (w != outW) {
                // only the rows the vertical pass reads (Pillow's ybox_first .. ybox_last)
                first = vert.bounds[0];
                int last = vert.bounds[2 * (outH - 1)] + vert.bounds[2 * (outH - 1) + 1];
                rows = h == outH ? h : last - first;
                if (h == outH) {
                    first = 0;
                }
                int[] t = new int[outW * rows];
                for (int y = 0; y < rows; y++) {
                    for (int x = 0; x < outW; x++) {
                        int min = horiz.bounds[2 * x];
                        int n = horiz.bounds[2 * x + 1];
                        int ss = 1 << (PRECISION_BITS - 1);
                        for (int i = 0; i < n; i++) {
                            ss += p[(y + first) * w + min + i] * horiz.k[x * horiz.size + i];
                        }
                        t[y * outW + x] = clip8(ss);
                    }
                }
                p = t;
            }
            if (h != outH) {
                int[] t = new int[outW * outH];
                for (int y = 0; y < outH; y++) {
                    int min = vert.bounds[2 * y] - first;
                    int n = vert.bounds[2 * y + 1];
                    for (int x = 0; x < outW; x++) {
                        int ss = 1 << (PRECISION_BITS - 1);
                        for (int i = 0; i < n; i++) {
                            ss += p[(min + i) * outW + x] * vert.k[y * vert.size + i];
                        }
                        t[y * outW + x] = clip8(ss);
                    }
                }
                p = t;
            }
            out[c] = p;
        }
        return out;
    }

    private static int clip8(int v) {
        if (v >= (1 << PRECISION_BITS << 8)) {
            return 255;
        }
        if (v <= 0) {
            return 0;
        }
        return v >> PRECISION_BITS;
    }

    /** Fixed-point weights of each output index: {@code bounds[2i]} first input index, {@code bounds[2i+1]} count. */
    private record Coefficients(int size, int[] bounds, int[] k) {
    }

    /** Pillow's {@code precompute_coeffs} then {@code normalize_coeffs_8bpc}, over the whole input ({@code box = 0..in}). */
    static Coefficients coefficients(int in, int out) {
        double scale = (double) in / out;
        double filterScale = Math.max(scale, 1.0);
        double support = SUPPORT * filterScale;
        int size = (int) Math.ceil(support) * 2 + 1;
        int[] bounds = new int[2 * out];
        int[] k = new int[out * size];
        double[] w = new double[size];
        for (int xx = 0; xx < out; xx++) {
            double center = (xx + 0.5) * scale;
            double ss = 1.0 / filterScale;
            int min = Math.max((int) (center - support + 0.5), 0);
            int max = Math.min((int) (center + support + 0.5), in) - min;
            double sum = 0;
            for (int x = 0; x < max; x++) {
                w[x] = lanczos((x + min - center + 0.5) * ss);
                sum += w[x];
            }
            for (int x = 0; x < max; x++) {
                double v = sum != 0.0 ? w[x] / sum : w[x];
                k[xx * size + x] = (int) (v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
            }
            bounds[2 * xx] = min;
            bounds[2 * xx + 1] = max;
        }
        return new Coefficients(size, bounds, k);
    }

    private static double lanczos(double x) {
        return -3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0;
    }

    private static double sinc(double x) {
        if (x == 0.0) {
            return 1.0;
        }
        x = x * Math.PI;
        return Math.sin(x) / x;
    }
}
