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
 * @param decoderSteps    stage 3 optimizer steps (the VAE decoder on the frozen encoder's posterior means); 0 = none
 * @param vaeBatch        pictures per stage 1 step
 * @param unetBatch       pictures per stage 2 step
 * @param vaeLr           stage 1 peak learning rate
 * @param unetLr          stage 2 peak learning rate
 * @param warmup          linear warm-up steps of each stage; then cosine decay to a tenth of the peak
 * @param klWeight        weight of the KL term (mean over latent elements) against the L1 reconstruction (mean over pixels)
 * @param captionDropout  probability that a stage 2 caption is replaced by the empty prompt (classifier-free guidance)
 * @param snrGamma        min-SNR-gamma weighting of the stage 2 eps loss (Hang et al. 2023, "Efficient Diffusion
 *                        Training via Min-SNR Weighting Strategy", sec. 3.4: weight min(SNR_t, gamma) / SNR_t with
 *                        SNR_t = alphaBar_t / (1 - alphaBar_t)); 0 = unweighted (DDPM's "simple" loss)
 * @param checkpointEvery steps between checkpoints (each stage also checkpoints at its end)
 * @param half            write the pipeline's weights as fp16 (half the size; the loader widens them)
 */
public record TrainOptions(Path output, Path checkpoints, String sizesName, ModelSizes sizes, TrainingData data,
                           long seed, int vaeSteps, int unetSteps, int decoderSteps, int vaeBatch, int unetBatch, double vaeLr,
                           double unetLr, int warmup, double klWeight, double captionDropout, double snrGamma,
                           int checkpointEvery, boolean half) {
    /** @throws IllegalArgumentException naming the first bad value */
    public TrainOptions {
        if (vaeSteps < 0 || unetSteps < 0 || decoderSteps < 0) {
            throw new IllegalArgumentException("--vae-steps, --unet-steps and --decoder-steps must be >= 0");
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
        if (!(snrGamma >= 0) || Double.isInfinite(snrGamma)) {
            throw new IllegalArgumentException("--snr-gamma must be a finite number >= 0 (0 = off), got " + snrGamma);
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
        m.put("decoder_steps", decoderSteps);
        m.put("vae_batch", vaeBatch);
        m.put("unet_batch", unetBatch);
        m.put("vae_lr", vaeLr);
        m.put("unet_lr", unetLr);
        m.put("warmup", warmup);
        m.put("kl_weight", klWeight);
        m.put("caption_dropout", captionDropout);
        m.put("unet_latents", "posterior mean");
        m.put("snr_gamma", snrGamma);
        return m;
    }

    /**
     * Weight of the eps loss at a timestep whose {@code alphaBar} is given: {@code min(SNR, gamma) / SNR} with
     * {@code SNR = alphaBar / (1 - alphaBar)} (Hang et al. 2023, sec. 3.4, the eps-prediction form that diffusers'
     * {@code examples/text_to_image/train_text_to_image.py} applies for {@code --snr_gamma}); 1 when the weighting is
     * off. It is 1 at high noise (SNR below gamma) and falls as gamma / SNR below it, so the nearly clean timesteps,
     * whose eps is easy and says little about the layout, stop dominating the gradient.
     *
     * @param alphaBar in (0, 1)
     * @return the weight, in (0, 1]
     */
    public double lossWeight(double alphaBar) {
        if (snrGamma == 0) {
            return 1.0;
        }
        double snr = alphaBar / (1.0 - alphaBar);
        return Math.min(snr, snrGamma) / snr;
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
