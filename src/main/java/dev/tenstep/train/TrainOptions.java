package dev.tenstep.train;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a {@code train} run does. Everything that changes the weights is here (and recorded in the
 * checkpoint, so that {@code --resume} refuses a checkpoint made with other settings).
 *
 * @param output          the pipeline folder written at the end (diffusers layout)
 * @param checkpoints     folder of the checkpoints and the run's state
 * @param sizesName       the {@link ModelSizes} preset's name
 * @param sizes           the sizes
 * @param data            the pictures
 * @param seed            seed of the initial weights and of every random draw (pictures, noise, timesteps, dropout)
 * @param vaeSteps        stage 1 optimizer steps (VAE)
 * @param unetSteps       stage 2 optimizer steps (UNet + text encoder)
 * @param vaeBatch        pictures per stage 1 step
 * @param unetBatch       pictures per stage 2 step
 * @param vaeLr           stage 1 peak learning rate
 * @param unetLr          stage 2 peak learning rate
 * @param warmup          linear warm-up steps of each stage; then cosine decay to a tenth of the peak
 * @param klWeight        weight of the KL term (mean over latent elements) against the L1 reconstruction (mean over pixels)
 * @param captionDropout  probability that a stage 2 caption is replaced by the empty prompt (classifier-free guidance)
 * @param checkpointEvery steps between checkpoints (each stage also checkpoints at its end)
 * @param half            write the pipeline's weights as fp16 (half the size; the loader widens them)
 */
public record TrainOptions(Path output, Path checkpoints, String sizesName, ModelSizes sizes, TrainingData data,
                           long seed, int vaeSteps, int unetSteps, int vaeBatch, int unetBatch, double vaeLr,
                           double unetLr, int warmup, double klWeight, double captionDropout, int checkpointEvery,
                           boolean half) {
    /** @throws IllegalArgumentException naming the first bad value */
    public TrainOptions {
        if (vaeSteps < 0 || unetSteps < 0) {
            throw new IllegalArgumentException("--vae-steps and --unet-steps must be >= 0");
        }
        if (vaeBatch < 1 || unetBatch < 1) {
            throw new IllegalArgumentException("--vae-batch and --unet-batch must be >= 1");
        }
        if (!(vaeLr > 0) || !(unetLr > 0)) {
            throw new IllegalArgumentException("learning rates must be > 0");
        }
        if (!(captionDropout >= 0 && captionDropout <= 1)) {
            throw new IllegalArgumentException("--caption-dropout must be in [0, 1], got " + captionDropout);
        }
        if (checkpointEvery < 1) {
            throw new IllegalArgumentException("--checkpoint-every must be >= 1, got " + checkpointEvery);
        }
        if (warmup < 0 || klWeight < 0) {
            throw new IllegalArgumentException("--warmup and --kl-weight must be >= 0");
        }
    }

    /**
     * The settings that determine the weights, as recorded in a checkpoint and in the output's
     * {@code training.json} (output paths and the checkpoint interval are not among them).
     */
    public Map<String, Object> recipe() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("sizes", sizesName);
        m.put("data", data.describe());
        m.put("seed", seed);
        m.put("vae_steps", vaeSteps);
        m.put("unet_steps", unetSteps);
        m.put("vae_batch", vaeBatch);
        m.put("unet_batch", unetBatch);
        m.put("vae_lr", vaeLr);
        m.put("unet_lr", unetLr);
        m.put("warmup", warmup);
        m.put("kl_weight", klWeight);
        m.put("caption_dropout", captionDropout);
        m.put("unet_latents", "posterior mean");
        return m;
    }

    /**
     * Learning rate at {@code step} of a stage of {@code total} steps with peak {@code peak}: linear
     * warm-up over {@link #warmup} steps, then cosine decay from the peak to a tenth of it.
     */
    public double learningRate(double peak, int step, int total) {
        if (step < warmup) {
            return peak * (step + 1) / warmup;
        }
        int span = Math.max(1, total - warmup);
        double progress = Math.min(1.0, (step - warmup) / (double) span);
        return peak * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * progress)));
    }
}
