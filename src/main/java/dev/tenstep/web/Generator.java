package dev.tenstep.web;

import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.GenerationResult;
import dev.tenstep.pipeline.ResolvedRequest;
import dev.tenstep.pipeline.StepProgress;
import dev.tenstep.pipeline.TextToImage;

import java.awt.image.BufferedImage;

/**
 * What the web layer needs from a loaded model: the seam between {@link JobQueue} and a
 * {@link TextToImage} with the server's size limit (tests wrap it to hold a job at a step without
 * sleeping).
 */
public interface Generator {
    /** Model name shown in the UI, infotexts and {@code /sdapi/v1/sd-models}. */
    String modelName();

    /** A1111's {@code Model hash} of the model's checkpoint file (see {@link TextToImage#modelHash}), or null. */
    default String modelHash() {
        return null;
    }

    /** The VAE that replaced the checkpoint's ({@code --vae}; see {@link TextToImage#vaeFile}), or null. */
    default java.nio.file.Path vaeFile() {
        return null;
    }

    /**
     * Releases the model when the server switches to another or stops. The default and
     * {@link #of} release nothing (the caller owns the pipeline); {@link #owning} closes it.
     */
    default void close() {
    }

    /** The device and dtypes the model computes in, shown in the page header and {@code /api/info}. */
    default dev.tenstep.pipeline.ComputeSpec compute() {
        return dev.tenstep.pipeline.ComputeSpec.CPU;
    }

    /** True for the bundled demo pipeline (random weights): the UI says so. */
    boolean isDemo();

    /** Width and height must be multiples of this. */
    int sizeMultiple();

    /** Default image side in pixels. */
    int defaultSize();

    /** Largest width or height a request may ask for ({@code serve --max-size}); larger sizes are refused with 400. */
    int maxSize();

    /** The default limit: twice the model's default size (1024 for SD 1.5, 256 for the demo), at most 4096. */
    static int defaultMaxSize(int defaultSize) {
        return TextToImage.defaultMaxSize(defaultSize);
    }

    /**
     * Fills defaults (size, random seed) and validates (sizes up to {@link #maxSize}).
     *
     * @throws dev.tenstep.pipeline.InvalidRequestException naming each invalid field
     */
    ResolvedRequest resolve(GenerationRequest request);

    /**
     * Generates one image on the calling (worker) thread.
     *
     * @throws java.util.concurrent.CancellationException when {@code listener} returned false or
     *         the thread was interrupted (also inside a step: the UNet and VAE check between blocks)
     */
    GenerationResult generate(ResolvedRequest request, TextToImage.Listener listener);

    /** A step preview: {@code exact} = full decode (e.g. the VAE), else the model's cheap approximation. */
    BufferedImage preview(StepProgress step, boolean exact);

    /** The model's prompt encoder for token counts, or null (the default) when it has none. */
    default int maxClipSkip() {
        return GenerationRequest.MAX_CLIP_SKIP;
    }

    /** The model's prompt encoder for token counts, or null (the default) when it has none. */
    default dev.tenstep.pipeline.prompt.PromptEncoder promptEncoder() {
        return null;
    }

    /** Adapts a loaded model, with the {@link #defaultMaxSize default size limit}. */
    static Generator of(TextToImage p) {
        return of(p, defaultMaxSize(p.defaultSize()));
    }

    /**
     * Adapts a loaded pipeline.
     *
     * @param maxSize largest width or height accepted, at most {@link GenerationRequest#MAX_SIZE}
     */
    static Generator of(TextToImage p, int maxSize) {
        return adapt(p, maxSize, false);
    }

    /**
     * As {@link #of(TextToImage, int)}, taking ownership: {@link #close} closes the pipeline (a
     * server that switches models closes the old one before loading the next).
     */
    static Generator owning(TextToImage p, int maxSize) {
        return adapt(p, maxSize, true);
    }

    private static Generator adapt(TextToImage p, int maxSize, boolean owns) {
        if (maxSize < 1 || maxSize > GenerationRequest.MAX_SIZE) {
            throw new IllegalArgumentException("max size must be between 1 and " + GenerationRequest.MAX_SIZE + ", got " + maxSize);
        }
        boolean demo = p.isDemo();
        return new Generator() {
            @Override
            public dev.tenstep.pipeline.prompt.PromptEncoder promptEncoder() {
                return p.promptEncoder();
            }

            @Override
            public String modelName() {
                return p.name();
            }

            @Override
            public boolean isDemo() {
                return demo;
            }

            @Override
            public String modelHash() {
                return p.modelHash();
            }

            @Override
            public java.nio.file.Path vaeFile() {
                return p.vaeFile();
            }

            @Override
            public int maxClipSkip() {
                return p.maxClipSkip();
            }

            @Override
            public void close() {
                if (owns) {
                    p.close();
                }
            }

            @Override
            public dev.tenstep.pipeline.ComputeSpec compute() {
                return p.compute();
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
            public int maxSize() {
                return maxSize;
            }

            @Override
            public ResolvedRequest resolve(GenerationRequest request) {
                return p.resolve(request, maxSize);
            }

            @Override
            public GenerationResult generate(ResolvedRequest request, TextToImage.Listener listener) {
                return p.generate(request, null, TextToImage.Options.DEFAULT.withListener(listener));
            }

            @Override
            public BufferedImage preview(StepProgress step, boolean exact) {
                return p.preview(step, exact);
            }
        };
    }
}
