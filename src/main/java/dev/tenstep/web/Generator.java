package dev.tenstep.web;

import dev.tenstep.pipeline.DemoPipeline;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.GenerationResult;
import dev.tenstep.pipeline.StableDiffusionPipeline;

import java.awt.image.BufferedImage;

/**
 * What the web layer needs from a loaded model: the seam between {@link JobQueue} and
 * {@link StableDiffusionPipeline} (tests wrap it to hold a job at a step without sleeping).
 */
public interface Generator {
    /** Model name shown in the UI, infotexts and {@code /sdapi/v1/sd-models}. */
    String modelName();

    /** True for the bundled demo pipeline (random weights): the UI says so. */
    boolean isDemo();

    /** Width and height must be multiples of this. */
    int sizeMultiple();

    /** Default image side in pixels. */
    int defaultSize();

    /**
     * Fills defaults (size, random seed) and validates.
     *
     * @throws dev.tenstep.pipeline.InvalidRequestException naming each invalid field
     */
    GenerationRequest resolve(GenerationRequest request);

    /**
     * Generates one image on the calling (worker) thread.
     *
     * @throws java.util.concurrent.CancellationException when {@code listener} returned false
     */
    GenerationResult generate(GenerationRequest request, StableDiffusionPipeline.Listener listener);

    /** Full VAE decode of a latent [1, 4, h, w] (exact step previews). */
    BufferedImage decode(float[] latent, int h, int w);

    /** Adapts a loaded pipeline. */
    static Generator of(StableDiffusionPipeline p) {
        boolean demo = DemoPipeline.isDemo(p.dir());
        return new Generator() {
            @Override
            public String modelName() {
                return p.name();
            }

            @Override
            public boolean isDemo() {
                return demo;
            }

            @Override
            public int sizeMultiple() {
                return p.sizeMultiple();
            }

            @Override
            public int defaultSize() {
                return p.defaultSize();
            }

            @Override
            public GenerationRequest resolve(GenerationRequest request) {
                return p.resolve(request);
            }

            @Override
            public GenerationResult generate(GenerationRequest request, StableDiffusionPipeline.Listener listener) {
                return p.generate(request, null, StableDiffusionPipeline.Options.DEFAULT.withListener(listener));
            }

            @Override
            public BufferedImage decode(float[] latent, int h, int w) {
                return p.decodeToImage(latent, h, w);
            }
        };
    }
}
