package dev.tenstep.fidelity;

import dev.tenstep.pipeline.TextToImage;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import dev.tenstep.sampling.CfgDenoiser;
import dev.tenstep.sampling.Denoiser;
import dev.tenstep.sampling.NoiseSchedule;

/**
 * A Stable Diffusion pipeline as a {@link StudyModel}: the UNet with classifier-free guidance
 * ({@link CfgDenoiser}) on the latent [1, 4, h, w] of the model's default size, decoded by the VAE
 * ({@code vae.decode(z / scaling_factor)}) and mapped to [0, 1] by {@code clamp((x + 1) / 2)}.
 */
public final class PipelineStudyModel implements StudyModel {
    private final StableDiffusionPipeline pipeline;
    private final int size;

    /**
     * @param pipeline the loaded pipeline (not closed here)
     * @param size     image width and height in pixels (a multiple of the pipeline's size multiple)
     * @throws IllegalArgumentException if the size is not a positive multiple of the pipeline's size multiple
     */
    public PipelineStudyModel(StableDiffusionPipeline pipeline, int size) {
        if (size < pipeline.sizeMultiple() || size % pipeline.sizeMultiple() != 0) {
            throw new IllegalArgumentException("size must be a positive multiple of " + pipeline.sizeMultiple()
                    + " for " + pipeline.name() + ", got " + size);
        }
        this.pipeline = pipeline;
        this.size = size;
    }

    @Override
    public String name() {
        return pipeline.name();
    }

    @Override
    public NoiseSchedule noiseSchedule() {
        return pipeline.noiseSchedule();
    }

    @Override
    public long[] latentShape() {
        int h = size / pipeline.vaeScale();
        return new long[] {1, pipeline.unet().config().inChannels(), h, h};
    }

    @Override
    public Denoiser denoiser(NDManager manager, String prompt, String negativePrompt, double guidanceScale) {
        TextToImage.PromptEmbedding e = pipeline.encodePrompt(prompt, negativePrompt);
        NDArray context = manager.create(e.data(), new Shape(e.shape()));
        return new CfgDenoiser(pipeline.unet()::forward, context, guidanceScale, pipeline.noiseSchedule());
    }

    @Override
    public float[] decode(float[] latent) {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray img = pipeline.decodeLatents(m.create(latent, new Shape(latentShape())));
            float[] px = img.toFloatArray();
            for (int i = 0; i < px.length; i++) {
                px[i] = Math.min(1f, Math.max(0f, (px[i] + 1f) / 2f));
            }
            return px;
        }
    }
}
