package dev.tenstep.pipeline;

/**
 * Progress of one denoising step, as delivered to a {@link StableDiffusionPipeline.Listener}.
 *
 * @param step      1-based step number
 * @param total     number of steps N
 * @param sigma     noise level the UNet was evaluated at
 * @param timestep  UNet timestep (training scale, may be fractional)
 * @param elapsedMs wall time since the generation started
 * @param x0hat     the step's clean-latent estimate, row-major [1, 4, h, w] at pipeline scale (a copy)
 * @param height    latent height h
 * @param width     latent width w
 */
public record StepProgress(int step, int total, double sigma, double timestep, long elapsedMs,
                           float[] x0hat, int height, int width) {
}
