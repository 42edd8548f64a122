package dev.tenstep.pipeline;

import dev.tenstep.pipeline.prompt.PromptEncoder;
import dev.tenstep.pipeline.prompt.PromptSyntax;

import java.awt.image.BufferedImage;
import java.util.List;
import java.util.Map;

/**
 * A loaded text-to-image model as the adapters ({@code web}, {@code batch}, {@code bench}, {@code cli})
 * see it: resolve a request, draw its starting noise, encode its prompts, generate, preview. The
 * Stable Diffusion pipeline is one implementation; any model that denoises in the sampler
 * coordinates of docs/samplers.md (e.g. an analytic denoiser in pixel space) can be another, and
 * then every sampler, schedule, guidance setting, preview and adapter works with it unchanged.
 *
 * <p>Implementations are thread-safe: concurrent generations do not change each other's images.
 */
public interface TextToImage extends AutoCloseable {

    /** Receives each denoising step ({@link StepProgress}); return false to cancel the generation. */
    @FunctionalInterface
    public interface Listener {
        Listener NONE = p -> true;

        boolean onStep(StepProgress progress);
    }

    /**
     * Optional inputs and outputs of a generation beyond the request.
     *
     * @param initLatents the starting noise z_init [1, C, h, w] row-major instead of the seed's, or null
     * @param keepX0hats  keep every step's x0_hat in the result (for {@code --save-latents})
     * @param listener    receives each step
     */
    public record Options(float[] initLatents, boolean keepX0hats, Listener listener) {
        public static final Options DEFAULT = new Options(null, false, Listener.NONE);

        public Options withListener(Listener l) {
            return new Options(initLatents, keepX0hats, l);
        }
    }

    /**
     * The text conditioning of one (prompt, negative prompt) pair, reusable across generations with the same
     * prompts, syntax and clip skip: the encodings of the texts met so far (a thread-safe cache), and the context
     * of the first step of a one-step run as {@link #data()} [2, 77 * chunks, D] (row 0 negative, row 1 prompt).
     */
    public record PromptEmbedding(String prompt, String negativePrompt, PromptSyntax syntax, int clipSkip,
                                  Map<String, PromptEncoder.Encoded> cache, float[] data, long[] shape,
                                  List<String> warnings) {
        /** Whether this embedding was made for the request's prompts, syntax and clip skip. */
        public boolean matches(GenerationRequest r) {
            return prompt.equals(r.prompt()) && negativePrompt.equals(r.negativePrompt())
                    && syntax == r.resolvedSyntax() && clipSkip == r.resolvedClipSkip();
        }
    }

    /** The model's name, shown in UIs and written into infotexts ({@code Model: ...}). */
    String name();

    /**
     * A1111's {@code Model hash} of the checkpoint file (first 10 hex digits of its SHA-256, see
     * {@link dev.tenstep.io.ModelHash}), or null when the model has none (a diffusers folder, an
     * ideal model) or it was not computed.
     */
    default String modelHash() {
        return null;
    }

    /** The VAE file or folder that replaced the checkpoint's ({@code --vae}), or null when the model's own decodes. */
    default java.nio.file.Path vaeFile() {
        return null;
    }

    /**
     * The largest clip skip this model takes: its text encoder's layer count, at most
     * {@link GenerationRequest#MAX_CLIP_SKIP} (12 for SD 1.x, whose CLIP has 12 layers); 1 for a
     * model without a text encoder.
     */
    default int maxClipSkip() {
        return GenerationRequest.MAX_CLIP_SKIP;
    }

    /** The device and dtypes the model computes in (CPU fp32 unless loaded with a {@link ComputeSpec}). */
    default ComputeSpec compute() {
        return ComputeSpec.CPU;
    }

    /** True for a model whose pictures are meaningless by design (the bundled random-weight demo). */
    default boolean isDemo() {
        return false;
    }

    /** Width and height must be multiples of this many pixels (8 for SD). */
    int sizeMultiple();

    /** The default image side in pixels (512 for SD 1.5, 768 for SD 2.1). */
    int defaultSize();

    /**
     * Fills the defaults of a request (size from the model, a random seed when negative, the
     * sampler's schedule and gamma) and validates it, with width and height limited to
     * {@code maxSize} pixels (a server's limit).
     *
     * @throws InvalidRequestException listing every invalid field
     */
    GenerationRequest resolve(GenerationRequest request, int maxSize);

    /** As {@link #resolve(GenerationRequest, int)} with the global limit {@link GenerationRequest#MAX_SIZE}. */
    default GenerationRequest resolve(GenerationRequest request) {
        return resolve(request, GenerationRequest.MAX_SIZE);
    }

    /**
     * The shape of the sampler's state for a resolved request, NCHW {@code [1, C, h, w]} (SD:
     * {@code [1, 4, height / 8, width / 8]}).
     */
    long[] latentShape(GenerationRequest resolved);

    /**
     * The seeded starting noise z_init ~ N(0, I) of a resolved request, row-major
     * {@link #latentShape}: what {@link #generate} starts from when no initial latents are given, so
     * runs that must share it (a batch's sampler columns, a fidelity study) ask for it here.
     */
    float[] initialLatents(GenerationRequest resolved);

    /**
     * Stage 1: the conditioning of a (prompt, negative prompt) pair, reusable across generations
     * that share the prompts (e.g. a batch line's sampler columns).
     */
    TextToImage.PromptEmbedding encodePrompt(String prompt, String negativePrompt);

    /**
     * Stage 1 for a request's prompts, read with its prompt syntax and clip skip (what {@link #generate} reuses
     * for that request). The default suits a model without a text encoder, for which neither applies.
     *
     * @throws dev.tenstep.pipeline.prompt.PromptSyntaxException if a prompt's emphasis cannot be read
     */
    default TextToImage.PromptEmbedding encodePrompt(GenerationRequest request) {
        return encodePrompt(request.prompt(), request.negativePrompt());
    }

    /**
     * Runs a generation on the calling thread.
     *
     * @param request   the request (resolved here)
     * @param embedding a precomputed {@link #encodePrompt} of the request's prompts, or null
     * @param options   starting latent, x0-hat recording, step listener
     * @throws InvalidRequestException if a field is invalid
     * @throws java.util.concurrent.CancellationException if the listener cancelled or the thread was interrupted
     */
    GenerationResult generate(GenerationRequest request, TextToImage.PromptEmbedding embedding,
                              TextToImage.Options options);

    /** As {@link #generate(GenerationRequest, TextToImage.PromptEmbedding, TextToImage.Options)} with defaults. */
    default GenerationResult generate(GenerationRequest request) {
        return generate(request, null, TextToImage.Options.DEFAULT);
    }

    /**
     * A picture of a step's x0-hat ({@link StepProgress#x0hat}): {@code exact} decodes it fully
     * (SD: the VAE), otherwise a cheap approximation (SD: a linear latent-to-RGB map, one pixel per
     * latent pixel).
     */
    BufferedImage preview(StepProgress step, boolean exact);

    /** Releases the model's native memory. */
    @Override
    void close();

    /** The model's A1111-style prompt encoder (token counts, chunks), or null when it has none. */
    default dev.tenstep.pipeline.prompt.PromptEncoder promptEncoder() {
        return null;
    }
}
