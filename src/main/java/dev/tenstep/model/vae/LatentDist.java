package dev.tenstep.model.vae;

import ai.djl.ndarray.NDArray;

/**
 * The diagonal Gaussian posterior of {@link AutoencoderKL#encode} (diffusers
 * {@code DiagonalGaussianDistribution}), in unscaled latent units (multiply a sample by
 * {@code scaling_factor} to get pipeline latents).
 *
 * @param mean   [B, latent_channels, h, w]
 * @param logvar [B, latent_channels, h, w], clamped to [-30, 20]
 */
public record LatentDist(NDArray mean, NDArray logvar) {
    /** Standard deviation {@code exp(logvar / 2)}, same shape; belongs to logvar's manager. */
    public NDArray std() {
        return logvar.mul(0.5f).exp();
    }

    /** {@code mean + std * noise}; noise [B, latent_channels, h, w] standard normal. */
    public NDArray sample(NDArray noise) {
        return dev.tenstep.model.nn.Ops.addInPlace(dev.tenstep.model.nn.Ops.mulInPlace(std(), noise), mean);
    }
}
