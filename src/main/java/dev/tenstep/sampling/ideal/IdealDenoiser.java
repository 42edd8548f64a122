package dev.tenstep.sampling.ideal;

import ai.djl.ndarray.NDArray;
import dev.tenstep.sampling.Denoiser;

import java.util.Arrays;
import java.util.Objects;

/**
 * The ideal denoiser of a finite data set: the minimum-mean-squared-error estimate of the clean image under
 * the empirical distribution of {@code y_1..y_M} (Permenter and Yuan, ICML 2024, section on denoising as
 * approximate projection; Karras et al. 2022, EDM, appendix B.3):
 * <pre>
 *   x0_hat(x, sigma) = sum_i softmax_i(-|x - y_i|^2 / (2 sigma^2)) y_i
 *   eps_hat(x, sigma) = (x - x0_hat) / sigma
 * </pre>
 * in the variance-exploding coordinates of the sampler contract ({@code x = x0 + sigma * eps};
 * {@code docs/samplers.md}). It depends on sigma only: the UNet timestep is ignored. The softmax is
 * evaluated stably, as {@code exp(-(d_i - d_min) / (2 sigma^2))} normalised (log-sum-exp with the nearest point
 * as the shift); at {@code sigma = 0} x0_hat is the limit, the mean of the nearest data points.
 *
 * <p>Text conditioning by subsets, so classifier-free guidance means what it means for Stable Diffusion: the
 * conditional estimate uses the images whose caption matches the prompt, the unconditional one the images
 * matching the negative prompt (all images for an empty one), and {@code eps = eps_u + w (eps_c - eps_u)};
 * with {@code w == 1} (where the formula reduces to eps_c) only the conditional subset is used, any other w applies
 * the formula (as {@link dev.tenstep.sampling.CfgDenoiser}).
 *
 * <p>Sums over the D = C*H*W values are accumulated in double. Immutable and thread-safe.
 */
public final class IdealDenoiser implements Denoiser {
    /** Weights below exp(-50) relative to the largest are dropped from the weighted sum (relative error &lt; 2e-22 each). */
    private static final double DROP_LOGIT = 50.0;

    private final ImageDataSet data;
    private final int[] cond;
    private final int[] uncond;
    private final double guidanceScale;

    /**
     * @param data          the data set
     * @param cond          indices of the conditional subset (non-empty)
     * @param uncond        indices of the unconditional subset (non-empty)
     * @param guidanceScale w (diffusers convention); w == 1 uses the conditional subset only
     * @throws IllegalArgumentException if a subset is empty or has an index out of range, or w is not finite
     */
    public IdealDenoiser(ImageDataSet data, int[] cond, int[] uncond, double guidanceScale) {
        this.data = Objects.requireNonNull(data, "data");
        this.cond = checkSubset(data, cond, "conditional");
        this.uncond = checkSubset(data, uncond, "unconditional");
        if (!Double.isFinite(guidanceScale)) {
            throw new IllegalArgumentException("guidance scale must be finite, got " + guidanceScale);
        }
        this.guidanceScale = guidanceScale;
    }

    /**
     * The denoiser for a prompt and a negative prompt (see {@link ImageDataSet#subset}).
     *
     * @throws IllegalArgumentException if no image matches the prompt or the negative prompt, listing the known words
     */
    public static IdealDenoiser forPrompt(ImageDataSet data, String prompt, String negativePrompt, double guidanceScale) {
        int[] c = data.subset(prompt, "prompt");
        int[] u = data.subset(negativePrompt, "negative prompt");
        return new IdealDenoiser(data, c, u, guidanceScale);
    }

    /** The unconditional denoiser of the whole set (no guidance). */
    public static IdealDenoiser unconditional(ImageDataSet data) {
        int[] all = allIndices(data.size());
        return new IdealDenoiser(data, all, all, 1.0);
    }

    static int[] allIndices(int m) {
        int[] all = new int[m];
        Arrays.setAll(all, i -> i);
        return all;
    }

    private static int[] checkSubset(ImageDataSet data, int[] subset, String label) {
        Objects.requireNonNull(subset, label);
        if (subset.length == 0) {
            throw new IllegalArgumentException("the " + label + " subset of data set '" + data.name() + "' is empty");
        }
        for (int i : subset) {
            if (i < 0 || i >= data.size()) {
                throw new IllegalArgumentException(label + " subset index " + i + " is outside [0, " + data.size() + ")");
            }
        }
        return subset.clone();
    }

    public ImageDataSet data() {
        return data;
    }

    public double guidanceScale() {
        return guidanceScale;
    }

    /** Number of images in the conditional subset. */
    public int conditionalSize() {
        return cond.length;
    }

    /** Number of images in the unconditional subset. */
    public int unconditionalSize() {
        return uncond.length;
    }

    /**
     * x0_hat over a subset of the data (see the class comment).
     *
     * @param x      a VE point, D values (row-major CHW)
     * @param sigma  the noise level, finite and &gt;= 0
     * @param subset indices into the data set, non-empty
     * @return D values, a convex combination of the subset's images
     * @throws IllegalArgumentException if x has the wrong length or sigma is negative or not finite
     */
    public static double[] x0Hat(ImageDataSet data, double[] x, double sigma, int[] subset) {
        int d = data.dimension();
        if (x.length != d) {
            throw new IllegalArgumentException("x has " + x.length + " values, the data set's images have " + d);
        }
        if (!(sigma >= 0) || !Double.isFinite(sigma)) {
            throw new IllegalArgumentException("sigma must be finite and >= 0, got " + sigma);
        }
        int m = subset.length;
        // |x - y|^2 = |x|^2 - 2 x.y + |y|^2: one multiply-add per value. Its rounding error, ~1e-16 (|y|^2 + D sigma^2),
        // moves a logit by ~1e-16 (|y|^2 / sigma^2 + D) / 2: below 1e-8 for 64x64 RGB images down to sigma = 0.03
        double xx = 0;
        for (int k = 0; k < d; k++) {
            xx += x[k] * x[k];
        }
        double[] dist = new double[m];
        double dMin = Double.POSITIVE_INFINITY;
        for (int j = 0; j < m; j++) {
            float[] y = data.imageRef(subset[j]);
            double dot = 0;
            for (int k = 0; k < d; k++) {
                dot += x[k] * y[k];
            }
            dist[j] = Math.max(0, xx - 2 * dot + data.squaredNorm(subset[j]));
            dMin = Math.min(dMin, dist[j]);
        }
        double[] out = new double[d];
        double total = 0;
        for (int j = 0; j < m; j++) {
            // logit_j - logit_max = -(d_j - d_min) / (2 sigma^2): never inf - inf, exactly 0 for the nearest point
            double z;
            if (sigma == 0) {
                z = dist[j] == dMin ? 0.0 : Double.NEGATIVE_INFINITY;
            } else {
                z = -(dist[j] - dMin) / (2 * sigma * sigma);
            }
            if (z < -DROP_LOGIT) {
                continue;
            }
            double w = Math.exp(z);
            total += w;
            float[] y = data.imageRef(subset[j]);
            for (int k = 0; k < d; k++) {
                out[k] += w * y[k];
            }
        }
        for (int k = 0; k < d; k++) {
            out[k] /= total;
        }
        return out;
    }

    /**
     * eps_hat over a subset: {@code (x - x0_hat) / sigma}.
     *
     * @throws IllegalArgumentException if sigma is not &gt; 0
     */
    public static double[] epsHat(ImageDataSet data, double[] x, double sigma, int[] subset) {
        if (!(sigma > 0)) {
            throw new IllegalArgumentException("eps_hat needs sigma > 0, got " + sigma);
        }
        double[] x0 = x0Hat(data, x, sigma, subset);
        double[] eps = new double[x.length];
        for (int k = 0; k < x.length; k++) {
            eps[k] = (x[k] - x0[k]) / sigma;
        }
        return eps;
    }

    /** The guided eps of this denoiser at a VE point given as doubles (D values). */
    public double[] guidedEps(double[] x, double sigma) {
        double[] c = epsHat(data, x, sigma, cond);
        if (guidanceScale == 1.0) {
            return c;
        }
        double[] u = epsHat(data, x, sigma, uncond);
        for (int k = 0; k < c.length; k++) {
            c[k] = u[k] + guidanceScale * (c[k] - u[k]);
        }
        return c;
    }

    /**
     * {@inheritDoc}
     *
     * <p>{@code x} is float32 [1, C, H, W] with the data set's C, H, W; the timestep is ignored.
     *
     * @throws IllegalArgumentException if x's shape differs from the data set's image shape or sigma is not &gt; 0
     */
    @Override
    public NDArray eps(NDArray x, double sigma, double timestep) {
        long[] shape = x.getShape().getShape();
        if (shape.length != 4 || shape[0] != 1 || shape[1] != data.channels() || shape[2] != data.height()
                || shape[3] != data.width()) {
            throw new IllegalArgumentException("x must be [1, " + data.channels() + ", " + data.height() + ", "
                    + data.width() + "] for data set '" + data.name() + "', got " + Arrays.toString(shape));
        }
        float[] xf = x.toFloatArray();
        double[] xd = new double[xf.length];
        for (int k = 0; k < xf.length; k++) {
            xd[k] = xf[k];
        }
        double[] eps = guidedEps(xd, sigma);
        float[] f = new float[eps.length];
        for (int k = 0; k < f.length; k++) {
            f[k] = (float) eps[k];
        }
        return x.getManager().create(f, x.getShape());
    }
}
