package dev.tenstep.sampling;

import ai.djl.ndarray.NDArray;

/**
 * The model as the sampler sees it ({@code docs/samplers.md} section 2): the noise estimate at a noise level, in
 * variance-exploding coordinates.
 *
 * <p>Contract: {@code x} is float32 {@code [1, 4, h, w]} in VE coordinates ({@code x = z * sqrt(1 + sigma^2)});
 * the result is a <em>fresh</em> float32 eps of the same shape which the caller owns (the sampler attaches
 * it to its own per-step manager and closes it); {@code x} must not be modified or closed.
 * Implementations may be called from any thread but are called by one sampler sequentially.
 */
@FunctionalInterface
public interface Denoiser {
    /**
     * @param x        the VE latent, float32 [1, 4, h, w]
     * @param sigma    the noise level, &gt;= 0 ({@link Sampler} only passes the N levels before a schedule's last,
     *                 which {@link SigmaSchedule} requires to be &gt; 0; 0 means {@code z = x})
     * @param timestep the training-scale timestep for that level, in [0, T-1], possibly fractional
     * @return eps, float32 [1, 4, h, w], a new array owned by the caller
     */
    NDArray eps(NDArray x, double sigma, double timestep);

    /**
     * Called by the sampler before step k's {@link #eps} (k = 0 is the first step), so a denoiser whose
     * conditioning changes during sampling (prompt editing) can select it. The default does nothing.
     */
    default void beginStep(int k) {
    }
}
