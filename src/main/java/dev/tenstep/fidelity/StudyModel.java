package dev.tenstep.fidelity;

import ai.djl.ndarray.NDManager;
import dev.tenstep.sampling.Denoiser;
import dev.tenstep.sampling.NoiseSchedule;

/**
 * What a fidelity study needs from a model: its training table, its latent shape, a guided denoiser for a
 * prompt, and a decoder to pixels. Implementations: {@link IdealStudyModel} (pixel space) and
 * {@link PipelineStudyModel} (Stable Diffusion). Must be usable from several threads at once.
 */
public interface StudyModel {
    /** The model's name for reports, e.g. {@code ideal:shapes}. */
    String name();

    /** The training table that schedules are built from. */
    NoiseSchedule noiseSchedule();

    /** The latent shape of one image, [1, C, h, w] (NCHW). */
    long[] latentShape();

    /**
     * The guided denoiser for a prompt. Arrays it needs (text embeddings) are created in {@code manager}, which
     * the caller keeps open while sampling.
     *
     * @throws IllegalArgumentException if the prompt is invalid for the model (e.g. no ideal-model caption matches)
     */
    Denoiser denoiser(NDManager manager, String prompt, String negativePrompt, double guidanceScale);

    /**
     * Decodes a final latent z (row-major, {@link #latentShape()}) to RGB pixels [3, H, W] in [0, 1] (clamped,
     * not rounded to 8 bits).
     */
    float[] decode(float[] latent);
}
