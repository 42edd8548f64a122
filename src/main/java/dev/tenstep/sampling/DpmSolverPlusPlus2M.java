package dev.tenstep.sampling;

import ai.djl.ndarray.NDArray;


/**
 * DPM-Solver++(2M): the multistep second-order solver of the probability-flow ODE in data prediction (Lu et al.
 * 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic Models", arXiv 2211.01095,
 * Algorithm 2), written in the variance-exploding coordinates of docs/samplers.md, where {@code alpha = 1} and the
 * half log-SNR is {@code lambda = -log sigma} (the form of k-diffusion's {@code sample_dpmpp_2m}):
 * <pre>
 *   x = z_init * sqrt(1 + s_0^2)
 *   for k = 0 .. N-1:
 *     D  = x - s_k * eps(x, s_k)                              (data prediction x0_hat, after guidance)
 *     h  = log(s_k / s_{k+1})
 *     Dd = D                                                   at k = 0 (first order)
 *        = (1 + 1/(2r)) D - 1/(2r) D_prev,  r = h_prev / h     otherwise
 *     x  = (s_{k+1} / s_k) x + (1 - s_{k+1} / s_k) Dd          (exp(-h) = s_{k+1} / s_k)
 *   zFinal = x / sqrt(1 + s_N^2)
 * </pre>
 * A final level {@code s_N = 0} (the karras schedule) gives {@code x = D}, the limit of the update. The first
 * order update is exactly the DDIM step, so with N = 1 both coincide. A zero-length step (a repeated level of a
 * snapped schedule) leaves x unchanged and the next step falls back to first order, so nothing divides by zero.
 *
 * <p>Deterministic (no per-step noise). Memory as {@link Sampler}: per-step sub-managers, only x and D_prev
 * kept between steps. Immutable and thread-safe.
 */
public final class DpmSolverPlusPlus2M implements LatentSampler {

    @Override
    public boolean stochastic() {
        return false;
    }

    /**
     * {@inheritDoc}
     *
     * <p>The step event's {@code x0hat} is {@code Dd}, the data estimate the step moves towards.
     *
     * @throws IllegalArgumentException if zInit is not float32 or the denoiser returns another shape
     */
    @Override
    public NDArray sample(Denoiser denoiser, NDArray zInit, SigmaSchedule schedule, NoiseSource noise,
                          StepListener listener) {
        // h of the previous step: the multistep correction needs the ratio of step lengths
        double[] hPrev = {0};
        return SamplingLoop.run(denoiser, zInit, schedule, listener, (k, s, x, eps, dPrev, step) -> {
            NDArray d = x.sub(eps.mul((float) s[k]));
            double ratio = s[k + 1] / s[k];
            double h = s[k + 1] == 0 ? Double.POSITIVE_INFINITY : Math.log(s[k] / s[k + 1]);
            NDArray dd = d;
            if (dPrev != null && hPrev[0] > 0 && h > 0 && Double.isFinite(h)) {
                double c = h / (2 * hPrev[0]);     // 1 / (2r)
                dd = d.mul((float) (1 + c)).sub(dPrev.mul((float) c));
            }
            NDArray xNew;
            if (s[k + 1] == 0) {
                xNew = dd.duplicate();
            } else if (h == 0) {
                xNew = x.duplicate();
            } else {
                xNew = x.mul((float) ratio).add(dd.mul((float) (1 - ratio)));
            }
            hPrev[0] = h;
            return new SamplingLoop.Step(xNew, dd, d);
        });
    }

    @Override
    public String toString() {
        return "DpmSolverPlusPlus2M";
    }
}
