package dev.tenstep.sampling;

import ai.djl.ndarray.NDArray;

import java.util.concurrent.CancellationException;

/**
 * One sampler loop for DDIM, DDPM and the gradient-estimation sampler ({@code docs/samplers.md} section 3;
 * Permenter and Yuan, ICML 2024, arXiv:2306.04848, Algorithm 2 with equation (12) for {@code epsBar}, Appendix A
 * for {@code mu}; smalldiffusion {@code samples()}), in variance-exploding coordinates:
 * <pre>
 *   x = z_init * sqrt(1 + s_0^2);  epsPrev = none
 *   for k = 0 .. N-1:
 *     eps    = denoiser(x, s_k, t_k)
 *     epsBar = eps if k = 0 else gamma * eps + (1 - gamma) * epsPrev
 *     sP     = (s_{k+1} / s_k^mu)^(1 / (1 - mu))        (= s_{k+1} when mu = 0)
 *     x0hat  = x - s_k * epsBar
 *     x      = x + (sP - s_k) * epsBar + sqrt(s_{k+1}^2 - sP^2) * w_k
 *     epsPrev = eps
 *   zFinal = x / sqrt(1 + s_N^2)
 * </pre>
 * (schedule indices as in {@link SigmaSchedule}: {@code s_0} is the highest level; the paper counts down, its
 * {@code sigma_{N-k}} is our {@code s_k}). {@code mu} means what it means in current smalldiffusion (0.4.x);
 * smalldiffusion 0.1 wrote the exponent the other way round, its {@code mu} is 1 minus ours. The kinds DDIM, GE
 * and DDPM of {@link SamplerKind} make it. With gamma 1 and mu 0 on the {@code ddim} schedule this is exactly diffusers' DDIM
 * (eta 0) in z-coordinates.
 *
 * <p>Memory: each step runs in a sub-manager of the latent's manager and keeps only {@code x} and
 * {@code epsPrev} alive between steps; the result is attached to {@code zInit}'s manager.
 * Immutable and thread-safe; a call runs on the calling thread.
 */
public final class Sampler implements LatentSampler {
    private final double gamma;
    private final double mu;

    /**
     * @param gamma the gradient-estimation weight, &gt;= 1 (1 = DDIM, 2 = the paper's GE)
     * @param mu    the stochasticity, in [0, 1) (0 = deterministic, 0.5 = DDPM-like)
     * @throws IllegalArgumentException if a parameter is out of range
     */
    public Sampler(double gamma, double mu) {
        if (!(gamma >= 1.0) || !Double.isFinite(gamma)) {
            throw new IllegalArgumentException("gamma must be a finite number >= 1, got " + gamma);
        }
        if (!(mu >= 0.0 && mu < 1.0)) {
            throw new IllegalArgumentException("mu must be in [0, 1), got " + mu);
        }
        this.gamma = gamma;
        this.mu = mu;
    }

    /** The gradient-estimation weight gamma (&gt;= 1). */
    public double gamma() {
        return gamma;
    }

    /** The stochasticity mu in [0, 1). */
    public double mu() {
        return mu;
    }

    /** Whether the sampler draws per-step noise (mu &gt; 0). */
    @Override
    public boolean stochastic() {
        return mu > 0;
    }

    /**
     * The noise level aimed at by the deterministic part of step k, {@code sP = (sNext / s^mu)^(1/(1-mu))},
     * and the standard deviation of the added noise {@code sqrt(sNext^2 - sP^2)} (0 when mu = 0 or when the
     * step has zero length). Requires {@code s > 0}.
     */
    public double[] stepLevels(double s, double sNext) {
        if (mu == 0.0) {
            return new double[] {sNext, 0.0};
        }
        double sP = Math.pow(sNext / Math.pow(s, mu), 1.0 / (1.0 - mu));
        sP = Math.min(sP, sNext);
        return new double[] {sP, Math.sqrt(Math.max(0.0, sNext * sNext - sP * sP))};
    }

    /**
     * Runs the sampler.
     *
     * @param denoiser  the model in VE coordinates (e.g. {@link CfgDenoiser})
     * @param zInit     the initial latent z ~ N(0, I), float32 [1, 4, h, w] (not modified or closed)
     * @param schedule  the N + 1 noise levels and N timesteps
     * @param noise     per-step noise for mu &gt; 0 (may be null when mu = 0)
     * @param listener  progress callback (may be null); returning false cancels
     * @return zFinal = x / sqrt(1 + s_N^2), float32 [1, 4, h, w], attached to {@code zInit}'s manager
     * @throws CancellationException if the listener returned false or the thread was interrupted
     * @throws IllegalArgumentException if zInit is not float32 or the denoiser returns another shape
     * @throws IllegalStateException if mu &gt; 0 and no noise source is given
     */
    @Override
    public NDArray sample(Denoiser denoiser, NDArray zInit, SigmaSchedule schedule, NoiseSource noise,
                          StepListener listener) {
        NoiseSource w = stochastic() && noise == null ? NoiseSource.none() : noise;
        return SamplingLoop.run(denoiser, zInit, schedule, listener, (k, s, x, eps, epsPrev, step) -> {
            NDArray epsBar = epsPrev == null || gamma == 1.0
                    ? eps
                    : eps.mul((float) gamma).add(epsPrev.mul((float) (1.0 - gamma)));
            double[] lv = stepLevels(s[k], s[k + 1]);
            NDArray x0hat = x.sub(epsBar.mul((float) s[k]));
            NDArray xNew = x.add(epsBar.mul((float) (lv[0] - s[k])));
            if (lv[1] > 0) {
                NDArray fresh = w.noise(k, step, x.getShape());
                fresh.attach(step);
                xNew = xNew.add(fresh.mul((float) lv[1]));
            }
            return new SamplingLoop.Step(xNew, x0hat, eps);
        });
    }

    /** As {@link #sample(Denoiser, NDArray, SigmaSchedule, NoiseSource, StepListener)} without noise or listener. */
    public NDArray sample(Denoiser denoiser, NDArray zInit, SigmaSchedule schedule) {
        return sample(denoiser, zInit, schedule, null, null);
    }

    @Override
    public String toString() {
        return "Sampler[gamma=" + gamma + ", mu=" + mu + "]";
    }
}
