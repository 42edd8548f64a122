package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.pipeline.prompt.PromptEncoder;
import dev.tenstep.pipeline.prompt.PromptSyntax;
import dev.tenstep.sampling.Denoiser;
import dev.tenstep.sampling.NoiseSchedule;

import java.awt.image.BufferedImage;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * A loaded text-to-image model, the one model type every adapter ({@code web}, {@code batch}, {@code bench},
 * {@code fidelity}, {@code cli}) uses: resolve a request, encode its prompts, generate, preview. A model
 * contributes only its parts: the training table ({@link #noiseSchedule}), the latent shape, the conditioning
 * and guided denoiser of a request ({@link #condition}: text encoder and UNet for Stable Diffusion) and the
 * decoder ({@link #decode}); {@link DenoiseStage} runs conditioning -&gt; initial latents -&gt; sampling loop
 * -&gt; decode the same way for every model. Any model that denoises in the sampler coordinates of
 * docs/samplers.md (e.g. an analytic denoiser in pixel space) works with every sampler, schedule, guidance
 * setting, preview and adapter unchanged.
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
     * @param initLatents the starting noise z_init [1, C, h, w] row-major instead of the seed's, or null; for img2img
     *                    the unit-variance noise added to the init latents instead of the seed's second draw
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
        public boolean matches(ResolvedRequest r) {
            return prompt.equals(r.prompt()) && negativePrompt.equals(r.negativePrompt())
                    && syntax == r.promptSyntax() && clipSkip == r.clipSkip();
        }
    }

    /**
     * Stage 1 of a generation, the model's conditioning of a request: the guided denoiser the sampler calls.
     *
     * @param denoiser      the model with the request's prompts and guidance scale, in the sampler's coordinates;
     *                      its arrays live in the manager given to {@link #condition}
     * @param entryAt       which prompt-schedule entries condition 0-based step k ({@link StepProgress#conditioning()})
     * @param warnings      notes for the user (e.g. a prompt encoded in several 75-token chunks)
     * @param denoiserLabel names the network and its precision in errors (e.g. {@code UNet cpu fp32})
     */
    public record Conditioned(Denoiser denoiser, IntFunction<String> entryAt, List<String> warnings,
                              String denoiserLabel) {
        public Conditioned {
            warnings = List.copyOf(warnings);
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
     * A1111's {@code VAE hash} of {@link #vaeFile} (first 10 hex digits of its SHA-256), or null when there is none
     * (no replacing VAE, or a diffusers folder, which A1111 has no hash for).
     */
    default String vaeHash() {
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

    /** The model's serving defaults (guidance scale, example prompt, known words); {@link ModelDefaults#SD} by default. */
    default ModelDefaults defaults() {
        return ModelDefaults.SD;
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
     * The largest width or height {@link #resolve(GenerationRequest)} accepts: twice the default size (1024 for
     * SD 1.5), at most {@link GenerationRequest#MAX_SIZE}. A server with its own limit
     * ({@code serve --max-size}) passes it to {@link #resolve(GenerationRequest, int)}.
     */
    default int maxSize() {
        return defaultMaxSize(defaultSize());
    }

    /** Twice a model's default size, at most {@link GenerationRequest#MAX_SIZE}. */
    static int defaultMaxSize(int defaultSize) {
        return Math.min(2 * defaultSize, GenerationRequest.MAX_SIZE);
    }

    /** The training table that schedules are built from ({@code num_train_timesteps}, alphaBar, sigma). */
    NoiseSchedule noiseSchedule();

    /**
     * Validates a request and fills its defaults (size from the model, a random seed when negative, the
     * sampler's schedule and gamma), with width and height limited to {@code maxSize} pixels (a server's limit):
     * the one place a request is resolved.
     *
     * @throws InvalidRequestException listing every invalid field
     */
    ResolvedRequest resolve(GenerationRequest request, int maxSize);

    /** As {@link #resolve(GenerationRequest, int)} with the global limit {@link GenerationRequest#MAX_SIZE}. */
    default ResolvedRequest resolve(GenerationRequest request) {
        return resolve(request, GenerationRequest.MAX_SIZE);
    }

    /**
     * The shape of the sampler's state for a resolved request, NCHW {@code [1, C, h, w]} (SD:
     * {@code [1, 4, height / 8, width / 8]}).
     */
    long[] latentShape(ResolvedRequest resolved);

    /**
     * The seeded starting noise z_init ~ N(0, I) of a resolved request, row-major {@link #latentShape}: the
     * first draw of the request's RNG, what {@link #generate} starts from when no initial latents are given, so
     * runs that must share it (a batch's sampler columns) ask for it here.
     */
    default float[] initialLatents(ResolvedRequest resolved) {
        long[] s = latentShape(resolved);
        int n = Math.toIntExact(s[0] * s[1] * s[2] * s[3]);
        // img2img: the encoder's sample takes the first draw, the noise added to the init latents the second
        return resolved.img2img() != null ? resolved.rng().secondDraw(resolved.seed(), n)
                : resolved.rng().initialDraw(resolved.seed(), n);
    }

    /**
     * Whether this model encodes images ({@link #encode}): img2img needs it. False by default.
     */
    default boolean encodesImages() {
        return false;
    }

    /**
     * The init-image stage of an img2img run ({@link DenoiseStage}): the image to the init latents the sampler
     * starts from (before noise is added), sampling the encoder's posterior with {@code noise} (SD:
     * {@code scaling_factor * (mean + std * noise)} of {@code vae.encode}, diffusers' {@code latent_dist.sample}).
     *
     * @param image [1, 3, H, W] float32 in [-1, 1], H and W the request's size
     * @param noise unit-variance noise of {@link #latentShape}
     * @return [1, C, h, w] float32, a new array in image's manager
     * @throws UnsupportedOperationException for a model that does not {@link #encodesImages encode images}
     */
    default NDArray encode(NDArray image, NDArray noise) {
        throw new UnsupportedOperationException(name() + " has no image encoder (img2img needs a VAE)");
    }

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
    default TextToImage.PromptEmbedding encodePrompt(ResolvedRequest request) {
        return encodePrompt(request.prompt(), request.negativePrompt());
    }

    /**
     * A new manager for one generation's arrays, on the model's device; the caller closes it.
     */
    NDManager newManager();

    /**
     * Stage 1 of {@link DenoiseStage}: the request's conditioning and guided denoiser (guidance scale
     * {@link ResolvedRequest#cfgScale}), its arrays created in {@code manager}, which the caller keeps open while
     * sampling.
     *
     * @param embedding a precomputed {@link #encodePrompt} of the request's prompts, reused when it
     *                  {@link PromptEmbedding#matches matches}, or null
     */
    Conditioned condition(ResolvedRequest request, PromptEmbedding embedding, NDManager manager);

    /**
     * Stage 4 of {@link DenoiseStage}: the final latent [1, C, h, w] (float32, {@link #latentShape}) to the
     * decoded image [1, 3, H, W] float32 in nominally [-1, 1], a new array in {@code latents}' manager.
     *
     * @throws NonFiniteException if the decoded pixels are not finite (the message names the decoder)
     */
    NDArray decode(NDArray latents);

    /**
     * Runs a generation on the calling thread: {@link DenoiseStage#run}, the one generation path.
     *
     * @param request   the resolved request
     * @param embedding a precomputed {@link #encodePrompt} of the request's prompts, or null
     * @param options   starting latent, x0-hat recording, step listener
     * @throws IllegalArgumentException if the initial latents have the wrong size
     * @throws java.util.concurrent.CancellationException if the listener cancelled or the thread was interrupted
     */
    default GenerationResult generate(ResolvedRequest request, TextToImage.PromptEmbedding embedding,
                                      TextToImage.Options options) {
        return DenoiseStage.run(this, request, embedding, options);
    }

    /** As {@link #generate(ResolvedRequest, PromptEmbedding, Options)} with the default options. */
    default GenerationResult generate(ResolvedRequest request) {
        return generate(request, null, TextToImage.Options.DEFAULT);
    }

    /**
     * {@link #resolve(GenerationRequest) Resolves} a request and generates it with the default options.
     *
     * @throws InvalidRequestException if a field is invalid
     */
    default GenerationResult generate(GenerationRequest request) {
        return generate(resolve(request), null, TextToImage.Options.DEFAULT);
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
    default PromptEncoder promptEncoder() {
        return null;
    }
}
