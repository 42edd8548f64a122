package dev.tenstep.sampling;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

import java.util.Objects;
import java.util.concurrent.CancellationException;

/**
 * The loop every {@link LatentSampler} shares, in the coordinates of docs/samplers.md:
 * {@code x = z_init * sqrt(1 + s_0^2)}; for each step k the denoiser is told the step
 * ({@link Denoiser#beginStep}, which selects A1111 prompt-edited conditioning), evaluated once at
 * {@code (x, s_k, t_k)}, and the method's {@link Update} moves x to level {@code s_{k+1}}; at the end
 * {@code z_final = x / sqrt(1 + s_N^2)}. The loop owns memory (one sub-manager per step; only x and
 * the one array a multistep method carries survive a step), cancellation (thread interrupt before a
 * step, listener returning false after it) and the shape check of the denoiser's output.
 */
final class SamplingLoop {
    private SamplingLoop() {
    }

    /**
     * The result of one step.
     *
     * @param x     the latent at level {@code s_{k+1}}
     * @param x0hat the data estimate the step moved towards (reported to the listener)
     * @param carry the array the method needs at the next step (eps or D of this step), or null
     */
    record Step(NDArray x, NDArray x0hat, NDArray carry) {
    }

    /** One step of a sampling method. */
    @FunctionalInterface
    interface Update {
        /**
         * @param k     the step, 0-based
         * @param s     the N + 1 noise levels: the step goes from {@code s[k]} to {@code s[k + 1]}
         * @param x     the latent at {@code s[k]}, [1, C, h, w]
         * @param eps   the denoiser's noise estimate at {@code (x, s[k])}, same shape
         * @param carry what the previous step returned as {@link Step#carry}, null at k = 0
         * @param step  the step's manager (new arrays belong to it)
         */
        Step apply(int k, double[] s, NDArray x, NDArray eps, NDArray carry, NDManager step);
    }

    /**
     * Runs the loop (the contract of {@link LatentSampler#sample}).
     *
     * @throws IllegalArgumentException if zInit is not float32 or the denoiser returns another shape
     * @throws CancellationException    if the listener returned false or the thread was interrupted
     */
    static NDArray run(Denoiser denoiser, NDArray zInit, SigmaSchedule schedule, StepListener listener, Update update) {
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
            NDArray carry = null;
            for (int k = 0; k < n; k++) {
                if (Thread.currentThread().isInterrupted()) {
                    throw new CancellationException("sampling interrupted before step " + (k + 1) + " of " + n);
                }
                try (NDManager step = loop.newSubManager()) {
                    x.attach(step);
                    if (carry != null) {
                        carry.attach(step);
                    }
                    denoiser.beginStep(k);
                    NDArray eps = denoiser.eps(x, s[k], t[k]);
                    eps.attach(step);
                    if (!eps.getShape().equals(x.getShape())) {
                        throw new IllegalArgumentException("denoiser returned shape " + eps.getShape()
                                + " for a latent of shape " + x.getShape());
                    }
                    Step r = update.apply(k, s, x, eps, carry, step);
                    // everything else of the step is freed when its manager closes
                    r.x().attach(loop);
                    if (r.carry() != null) {
                        r.carry().attach(loop);
                    }
                    x = r.x();
                    carry = r.carry();
                    if (!l.onStep(new StepListener.StepEvent(k, n, s[k], s[k + 1], t[k], r.x0hat(), x))) {
                        throw new CancellationException("sampling cancelled after step " + (k + 1) + " of " + n);
                    }
                }
            }
            NDArray zFinal = x.div((float) Math.sqrt(1.0 + s[n] * s[n]));
            zFinal.attach(outer);
            return zFinal;
        }
    }
}
