package dev.tenstep.fidelity;

import ai.djl.ndarray.NDManager;
import dev.tenstep.sampling.Denoiser;
import dev.tenstep.sampling.NoiseSchedule;
import dev.tenstep.sampling.ideal.IdealDenoiser;
import dev.tenstep.sampling.ideal.IdealModels;
import dev.tenstep.sampling.ideal.ImageDataSet;

/**
 * An ideal-denoiser model as a {@link StudyModel}: the latent is the image itself ([1, C, H, W], pixel space in
 * [-1, 1], no VAE) and decoding is {@code clamp((z + 1) / 2, 0, 1)}; the training table is
 * {@link IdealModels#noiseSchedule()}.
 */
public final class IdealStudyModel implements StudyModel {
    private final String name;
    private final ImageDataSet data;
    private final NoiseSchedule noiseSchedule;

    /** @param name the model's name (e.g. {@code ideal:shapes}) */
    public IdealStudyModel(String name, ImageDataSet data) {
        this(name, data, IdealModels.noiseSchedule());
    }

    public IdealStudyModel(String name, ImageDataSet data, NoiseSchedule noiseSchedule) {
        this.name = name;
        this.data = data;
        this.noiseSchedule = noiseSchedule;
    }

    @Override
    public String name() {
        return name;
    }

    public ImageDataSet data() {
        return data;
    }

    @Override
    public NoiseSchedule noiseSchedule() {
        return noiseSchedule;
    }

    @Override
    public long[] latentShape() {
        return new long[] {1, data.channels(), data.height(), data.width()};
    }

    @Override
    public Denoiser denoiser(NDManager manager, String prompt, String negativePrompt, double guidanceScale) {
        return IdealDenoiser.forPrompt(data, prompt, negativePrompt, guidanceScale);
    }

    @Override
    public float[] decode(float[] latent) {
        float[] out = new float[latent.length];
        for (int i = 0; i < latent.length; i++) {
            out[i] = Math.min(1f, Math.max(0f, (latent[i] + 1f) / 2f));
        }
        return out;
    }
}
