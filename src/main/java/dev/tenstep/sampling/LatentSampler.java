package dev.tenstep.sampling;

import ai.djl.ndarray.NDArray;

/**
 * A sampling method: integrates from a starting latent down a {@link SigmaSchedule} with a {@link Denoiser}
 * (docs/samplers.md coordinates: {@code x = z * sqrt(1 + sigma^2)}). Implementations: {@link Sampler} (DDIM, GE,
 * DDPM) and {@link DpmSolverPlusPlus2M}.
 */
public interface LatentSampler {
    /**
     * @param denoiser  the model in VE coordinates
     * @param zInit     the initial latent z ~ N(0, I), float32 [1, C, h, w] (not modified or closed)
     * @param schedule  the N + 1 noise levels and N timesteps
     * @param noise     per-step noise for stochastic methods (may be null for deterministic ones)
     * @param listener  progress callback (may be null); returning false cancels
     * @return zFinal = x / sqrt(1 + s_N^2), float32 [1, C, h, w], attached to {@code zInit}'s manager
     * @throws java.util.concurrent.CancellationException if the listener returned false or the thread was interrupted
     */
    NDArray sample(Denoiser denoiser, NDArray zInit, SigmaSchedule schedule, NoiseSource noise, StepListener listener);

    /** Whether the method draws per-step noise. */
    boolean stochastic();
}
