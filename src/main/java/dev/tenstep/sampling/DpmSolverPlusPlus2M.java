package dev.tenstep.sampling;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

import java.util.Objects;
import java.util.concurrent.CancellationException;

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
        Objects.requireNonNull(denoiser, "denoiser");
        Objects.requireNonNull(zInit, "zInit");
        Objects.requireNonNull(schedule, "schedule");
        if (zInit.getDataType() != DataType.FLOAT32) {
            throw new IllegalArgumentException("zInit must be float32, got " + zInit.getDataType());
        }
        StepListener l = listener == null ? StepListener.NONE : listener;
        int n = schedule.steps();
        double[] s = schedule.sigmas();
        double[] t = schedule.timesteps();
        NDManager outer = zInit.getManager();
        try (NDManager loop = outer.newSubManager()) {
            NDArray x = zInit.mul((float) Math.sqrt(1.0 + s[0] * s[0]));
            x.attach(loop);
            NDArray dPrev = null;
            double hPrev = 0;
            for (int k = 0; k < n; k++) {
                if (Thread.currentThread().isInterrupted()) {
                    throw new CancellationException("sampling interrupted before step " + (k + 1) + " of " + n);
                }
                try (NDManager step = loop.newSubManager()) {
                    x.attach(step);
                    if (dPrev != null) {
                        dPrev.attach(step);
                    }
                    NDArray eps = denoiser.eps(x, s[k], t[k]);
                    eps.attach(step);
                    if (!eps.getShape().equals(x.getShape())) {
                        throw new IllegalArgumentException("denoiser returned shape " + eps.getShape()
                                + " for a latent of shape " + x.getShape());
                    }
                    NDArray d = x.sub(eps.mul((float) s[k]));
                    double ratio = s[k + 1] / s[k];
                    double h = s[k + 1] == 0 ? Double.POSITIVE_INFINITY : Math.log(s[k] / s[k + 1]);
                    NDArray dd = d;
                    if (dPrev != null && hPrev > 0 && h > 0 && Double.isFinite(h)) {
                        double c = h / (2 * hPrev);     // 1 / (2r)
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
                    xNew.attach(loop);
                    d.attach(loop);
                    x = xNew;
                    dPrev = d;
                    hPrev = h;
                    if (!l.onStep(new StepListener.StepEvent(k, n, s[k], s[k + 1], t[k], dd, x))) {
                        throw new CancellationException("sampling cancelled after step " + (k + 1) + " of " + n);
                    }
                }
            }
            NDArray zFinal = x.div((float) Math.sqrt(1.0 + s[n] * s[n]));
            zFinal.attach(outer);
            return zFinal;
        }
    }

    @Override
    public String toString() {
        return "DpmSolverPlusPlus2M";
    }
}
