package dev.tenstep.pipeline;

/**
 * Progress of one denoising step, as delivered to a {@link TextToImage.Listener}.
 *
 * @param step      1-based step number
 * @param total     number of steps N
 * @param sigma     noise level the UNet was evaluated at
 * @param timestep  UNet timestep (training scale, may be fractional)
 * @param elapsedMs wall time since the generation started
 * @param x0hat     the step's clean-latent estimate, row-major [1, 4, h, w] at pipeline scale (a copy)
 * @param height    latent height h
 * @param width     latent width w
 * @param conditioning which prompt-schedule entries conditioned this step, {@code p<i>/n<j>} (entry i of the
 *                  prompt's schedule, j of the negative prompt's); {@code p0/n0} throughout without prompt editing
 */
public record StepProgress(int step, int total, double sigma, double timestep, long elapsedMs,
                           float[] x0hat, int height, int width, String conditioning) {
    /** Without a conditioning id ({@code p0/n0}). */
    public StepProgress(int step, int total, double sigma, double timestep, long elapsedMs, float[] x0hat, int height,
                        int width) {
        this(step, total, sigma, timestep, elapsedMs, x0hat, height, width, "p0/n0");
    }
}
