package dev.tenstep.sampling;

import dev.tenstep.model.config.SchedulerConfig;

import java.util.Arrays;

/**
 * The discrete variance-preserving training schedule of a Stable Diffusion model ({@code docs/samplers.md} section 1;
 * diffusers {@code schedulers/scheduling_ddim.py}, {@code __init__}).
 *
 * <p>Tables are indexed by the training timestep {@code t = 0 .. T-1} ({@code T = num_train_timesteps},
 * 1000 for every SD release). {@code alphaBar[t]} is computed in float32 the way diffusers/PyTorch do on
 * the CPU: betas via a float32 {@code torch.linspace} (PyTorch's symmetric two-halves formula), squared in
 * float32 for {@code scaled_linear}; {@code alphas = 1 - betas} in float32; {@code torch.cumprod} (which on
 * the CPU accumulates in double and rounds each output to float32). {@code sigma(t)} is evaluated in double
 * from the float32 {@code alphaBar[t]} ({@code ScheduleFixtureTest} checks the tables against diffusers).
 *
 * <p>Immutable and thread-safe.
 */
public final class NoiseSchedule {
    private final int numTrainTimesteps;
    private final float[] alphaBar;
    private final double[] sigmas;
    private final double[] logSigmas;
    private final double finalAlphaBar;
    private final boolean vPrediction;
    private final int stepsOffset;

    private NoiseSchedule(float[] alphaBar, double finalAlphaBar, boolean vPrediction, int stepsOffset) {
        this.stepsOffset = stepsOffset;
        this.numTrainTimesteps = alphaBar.length;
        this.alphaBar = alphaBar;
        this.finalAlphaBar = finalAlphaBar;
        this.vPrediction = vPrediction;
        this.sigmas = new double[alphaBar.length];
        this.logSigmas = new double[alphaBar.length];
        for (int t = 0; t < alphaBar.length; t++) {
            double a = alphaBar[t];
            if (!(a > 0 && a < 1)) {
                throw new IllegalArgumentException("alphaBar[" + t + "] = " + a + " is outside (0, 1): invalid betas");
            }
            sigmas[t] = Math.sqrt((1.0 - a) / a);
            logSigmas[t] = Math.log(sigmas[t]);
        }
        for (int t = 1; t < sigmas.length; t++) {
            if (!(sigmas[t] >= sigmas[t - 1])) {
                throw new IllegalArgumentException("noise levels must be non-decreasing in t; sigma(" + t + ") = "
                        + sigmas[t] + " < sigma(" + (t - 1) + ") = " + sigmas[t - 1]);
            }
        }
    }

    /**
     * Builds the tables from a scheduler config ({@code beta_schedule} linear, scaled_linear,
     * squaredcos_cap_v2, or {@code trained_betas}).
     *
     * @throws IllegalArgumentException if the betas do not give 0 &lt; alphaBar &lt; 1 or unknown beta_schedule
     */
    public static NoiseSchedule of(SchedulerConfig config) {
        int n = config.numTrainTimesteps();
        float[] betas;
        if (config.trainedBetas() != null) {
            double[] tb = config.trainedBetas();
            if (tb.length != n) {
                throw new IllegalArgumentException("trained_betas has " + tb.length + " entries, num_train_timesteps is " + n);
            }
            betas = new float[n];
            for (int i = 0; i < n; i++) {
                betas[i] = (float) tb[i];
            }
        } else {
            switch (config.betaSchedule()) {
                case "linear" -> betas = linspaceF32(config.betaStart(), config.betaEnd(), n);
                case "scaled_linear" -> {
                    betas = linspaceF32(Math.sqrt(config.betaStart()), Math.sqrt(config.betaEnd()), n);
                    for (int i = 0; i < n; i++) {
                        betas[i] = betas[i] * betas[i];
                    }
                }
                case "squaredcos_cap_v2" -> betas = cosineBetas(n, 0.999);
                default -> throw new IllegalArgumentException("unsupported beta_schedule '" + config.betaSchedule() + "'");
            }
        }
        float[] alphaBar = new float[n];
        double acc = 1.0;
        for (int i = 0; i < n; i++) {
            float alpha = 1.0f - betas[i];
            acc *= alpha;
            alphaBar[i] = (float) acc;
        }
        double fin = config.setAlphaToOne() ? 1.0 : alphaBar[0];
        return new NoiseSchedule(alphaBar, fin, config.isVPrediction(), config.stepsOffset());
    }

    /** {@code torch.linspace(start, end, n, dtype=float32)} on the CPU (scalar path of PyTorch's kernel). */
    static float[] linspaceF32(double start, double end, int n) {
        float s = (float) start;
        float e = (float) end;
        float[] out = new float[n];
        if (n == 1) {
            out[0] = s;
            return out;
        }
        float step = (e - s) / (float) (n - 1);
        int half = n / 2;
        for (int i = 0; i < n; i++) {
            out[i] = i < half ? s + step * (float) i : e - step * (float) (n - i - 1);
        }
        return out;
    }

    /** diffusers {@code betas_for_alpha_bar} (cosine, Nichol and Dhariwal 2021), in double, then float32. */
    static float[] cosineBetas(int n, double maxBeta) {
        float[] b = new float[n];
        for (int i = 0; i < n; i++) {
            double t1 = (double) i / n;
            double t2 = (double) (i + 1) / n;
            b[i] = (float) Math.min(1 - cosAlphaBar(t2) / cosAlphaBar(t1), maxBeta);
        }
        return b;
    }

    private static double cosAlphaBar(double t) {
        double c = Math.cos((t + 0.008) / 1.008 * Math.PI / 2);
        return c * c;
    }

    /** {@code T}, the number of training timesteps. */
    public int numTrainTimesteps() {
        return numTrainTimesteps;
    }

    /** Whether the model predicts v ({@code prediction_type: v_prediction}) rather than eps. */
    public boolean vPrediction() {
        return vPrediction;
    }

    /** The config's {@code steps_offset} (SD: 1), used by the {@code ddim} schedule. */
    public int stepsOffset() {
        return stepsOffset;
    }

    /** {@code alphaBar[t]} (float32 value), t in [0, T-1]. */
    public float alphaBar(int t) {
        return alphaBar[t];
    }

    /** A copy of the float32 {@code alphas_cumprod} table, length T. */
    public float[] alphaBars() {
        return alphaBar.clone();
    }

    /** {@code sigma(t) = sqrt((1 - alphaBar[t]) / alphaBar[t])} in double, t in [0, T-1]. */
    public double sigma(int t) {
        return sigmas[t];
    }

    /** A copy of the sigma table, length T, ascending in t. */
    public double[] sigmas() {
        return sigmas.clone();
    }

    /** The smallest trained noise level {@code sigma(0)} (SD: 0.0292). */
    public double sigmaMin() {
        return sigmas[0];
    }

    /** The largest trained noise level {@code sigma(T-1)} (SD: 14.6146). */
    public double sigmaMax() {
        return sigmas[numTrainTimesteps - 1];
    }

    /** {@code 1} if {@code set_alpha_to_one}, else {@code alphaBar[0]} ({@code docs/samplers.md} section 1). */
    public double finalAlphaBar() {
        return finalAlphaBar;
    }

    /** The noise level of {@link #finalAlphaBar()}: {@code sqrt(1/finalAlphaBar - 1)} (0 when it is 1). */
    public double finalSigma() {
        return Math.sqrt(Math.max(0.0, (1.0 - finalAlphaBar) / finalAlphaBar));
    }

    /**
     * The (fractional) training timestep of a noise level, by linear interpolation of {@code ln sigma}
     * over the table ({@code docs/samplers.md} section 2; k-diffusion's {@code sigma_to_t}): {@code ln s <= ln sigma(0)} gives 0 (also for s = 0),
     * {@code ln s >= ln sigma(T-1)} gives T-1; else {@code i + (ln s - ln sigma_i) / (ln sigma_{i+1} - ln sigma_i)}
     * with {@code ln sigma_i <= ln s < ln sigma_{i+1}}. Table sigmas give exact integers.
     *
     * @param sigma a noise level &gt;= 0
     * @return t in [0, T-1]
     * @throws IllegalArgumentException if sigma is negative or NaN
     */
    public double timestepOf(double sigma) {
        if (!(sigma >= 0)) {
            throw new IllegalArgumentException("sigma must be >= 0, got " + sigma);
        }
        if (sigma == 0) {
            return 0;
        }
        double l = Math.log(sigma);
        if (l <= logSigmas[0]) {
            return 0;
        }
        int last = numTrainTimesteps - 1;
        if (l >= logSigmas[last]) {
            return last;
        }
        // largest i with logSigmas[i] <= l (exists since l > logSigmas[0]); i < last since l < logSigmas[last]
        int lo = 0;
        int hi = last;
        while (hi - lo > 1) {
            int mid = (lo + hi) >>> 1;
            if (logSigmas[mid] <= l) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        double d = logSigmas[lo + 1] - logSigmas[lo];
        if (!(d > 0)) {
            return lo;
        }
        return lo + (l - logSigmas[lo]) / d;
    }

    /**
     * The smallest t with {@code sigma(t) >= s} (numpy {@code searchsorted(sigmas, s, side="left")}),
     * clamped to T-1 when s exceeds every trained level.
     */
    public int ceilTimestep(double s) {
        int idx = Arrays.binarySearch(sigmas, s);
        if (idx >= 0) {
            while (idx > 0 && sigmas[idx - 1] == s) {
                idx--;
            }
            return idx;
        }
        int ins = -idx - 1;
        return Math.min(ins, numTrainTimesteps - 1);
    }
}
