package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.model.clip.ClipTextModel;
import dev.tenstep.model.clip.ClipTokenizer;
import dev.tenstep.model.config.Configs;
import dev.tenstep.model.config.ModelIndex;
import dev.tenstep.model.config.SchedulerConfig;
import dev.tenstep.model.nn.AttentionSettings;
import dev.tenstep.model.unet.UNet2DConditionModel;
import dev.tenstep.model.vae.AutoencoderKL;
import dev.tenstep.pipeline.prompt.Conditioning;
import dev.tenstep.pipeline.prompt.PromptEncoder;
import dev.tenstep.pipeline.prompt.PromptSyntax;
import dev.tenstep.sampling.CfgDenoiser;
import dev.tenstep.sampling.NoiseSchedule;
import dev.tenstep.sampling.LatentSampler;
import dev.tenstep.sampling.ScheduleKind;
import dev.tenstep.sampling.SigmaSchedule;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A Stable Diffusion 1.x/2.x text-to-image pipeline loaded from a diffusers folder
 * ({@code model_index.json}, {@code tokenizer/}, {@code text_encoder/}, {@code unet/}, {@code vae/},
 * {@code scheduler/}), run in the stages of diffusers' {@code StableDiffusionPipeline}:
 * <ol>
 *   <li>encode the prompt and the negative prompt (CLIP in 75-token chunks, [2, 77 * chunks, D], row 0 negative;
 *       A1111 emphasis, prompt editing per step, clip skip: {@link Conditioning});</li>
 *   <li>prepare the starting latent z ~ N(0, I) [1, 4, h, w] from the seed with the request's RNG (or given);</li>
 *   <li>denoise with the sigma-space sampler ({@code docs/samplers.md}) and classifier-free guidance;</li>
 *   <li>decode {@code vae.decode(z / scaling_factor)} to RGB.</li>
 * </ol>
 * Thread-safe: every generation has its own {@link NDManager} scope and random source, so
 * concurrent generations do not change each other's images.
 */
public final class StableDiffusionPipeline implements TextToImage {
    private static final Logger LOG = LoggerFactory.getLogger(StableDiffusionPipeline.class);
    private static final SecureRandom SEEDS = new SecureRandom();

    private final String name;
    private final Path dir;
    private final NDManager manager;
    private final ClipTokenizer tokenizer;
    private final ClipTextModel textEncoder;
    private final UNet2DConditionModel unet;
    private final AutoencoderKL vae;
    private final NoiseSchedule noiseSchedule;
    private final ComputeSpec compute;
    private final PromptEncoder promptEncoder;
    /** A1111's short model hash (10 hex digits of the file's SHA-256), or null (folders). */
    private volatile String modelHash;
    /** The VAE file or folder that replaced the checkpoint's ({@code --vae}), or null. */
    private volatile Path vaeFile;
    /** A1111's {@code VAE hash} of {@link #vaeFile} (10 hex digits of its SHA-256), or null (a folder, none). */
    private volatile String vaeHash;

    public StableDiffusionPipeline(String name, Path dir, NDManager manager, ClipTokenizer tokenizer,
                                   ClipTextModel textEncoder, UNet2DConditionModel unet, AutoencoderKL vae,
                                   NoiseSchedule noiseSchedule) {
        this(name, dir, manager, tokenizer, textEncoder, unet, vae, noiseSchedule, ComputeSpec.CPU);
    }

    /**
     * @param manager the pipeline's manager, on {@code compute}'s device, holding the weights
     * @param compute the device and dtypes the networks were built in
     */
    public StableDiffusionPipeline(String name, Path dir, NDManager manager, ClipTokenizer tokenizer,
                                   ClipTextModel textEncoder, UNet2DConditionModel unet, AutoencoderKL vae,
                                   NoiseSchedule noiseSchedule, ComputeSpec compute) {
        this.compute = compute;
        this.name = name;
        this.dir = dir;
        this.manager = manager;
        this.tokenizer = tokenizer;
        this.textEncoder = textEncoder;
        this.unet = unet;
        this.vae = vae;
        this.noiseSchedule = noiseSchedule;
        this.promptEncoder = new PromptEncoder(tokenizer, textEncoder);
    }

    /**
     * Loads a diffusers Stable Diffusion folder (see {@link PipelineAssembler#load}).
     *
     * @throws ModelLoadException naming the missing/invalid file, config key or weight
     */
    public static StableDiffusionPipeline load(Path dir) {
        return PipelineAssembler.load(dir);
    }

    /** Loads a diffusers folder on a device, in a precision (see {@link PipelineAssembler#load(Path, ComputeSpec)}). */
    public static StableDiffusionPipeline load(Path dir, ComputeSpec compute) {
        return PipelineAssembler.load(dir, compute);
    }

    /** The device and dtypes this pipeline computes in. */
    @Override
    public ComputeSpec compute() {
        return compute;
    }

    @Override
    public String name() {
        return name;
    }

    /** A1111's {@code Model hash} of a single-file checkpoint, or null. */
    @Override
    public String modelHash() {
        return modelHash;
    }

    /** Sets the {@code Model hash} written into infotexts (see {@link dev.tenstep.io.ModelHash}). */
    public void setModelHash(String modelHash) {
        this.modelHash = modelHash;
    }

    /** The VAE file or folder that replaced the checkpoint's ({@code --vae}), or null for the model's own. */
    @Override
    public Path vaeFile() {
        return vaeFile;
    }

    /** A1111's {@code VAE hash} of the replacing VAE file (10 hex digits of its SHA-256), or null. */
    public String vaeHash() {
        return vaeHash;
    }

    /**
     * Records the VAE that replaced the checkpoint's, for the infotext's {@code VAE hash} / {@code VAE} (A1111's keys).
     *
     * @param file      the VAE file or folder
     * @param shortHash 10 hex digits of the file's SHA-256, or null (a folder)
     */
    public void setVae(Path file, String shortHash) {
        this.vaeFile = file;
        this.vaeHash = shortHash;
    }

    public Path dir() {
        return dir;
    }

    public NoiseSchedule noiseSchedule() {
        return noiseSchedule;
    }

    public UNet2DConditionModel unet() {
        return unet;
    }

    public AutoencoderKL vae() {
        return vae;
    }

    public ClipTextModel textEncoder() {
        return textEncoder;
    }

    public ClipTokenizer tokenizer() {
        return tokenizer;
    }

    /** The A1111-style prompt encoder (chunks, emphasis, clip skip) over this model's tokenizer and text encoder. */
    @Override
    public PromptEncoder promptEncoder() {
        return promptEncoder;
    }

    /** Image pixels per latent pixel (8 for SD). */
    public int vaeScale() {
        return vae.config().downscale();
    }

    @Override
    public boolean isDemo() {
        return DemoPipeline.isDemo(dir);
    }

    /** Width and height must be multiples of this many pixels. */
    @Override
    public int sizeMultiple() {
        return vaeScale() * unet.sizeMultiple();
    }

    /** The default image side: {@code unet.sample_size x vae scale} (512 for SD 1.5, 768 for SD 2.1). */
    @Override
    public int defaultSize() {
        return unet.config().sampleSize() * vaeScale();
    }

    /**
     * Fills the defaults of a request (size from the model, a random seed when negative) and
     * validates it.
     *
     * @throws InvalidRequestException listing every invalid field
     */
    @Override
    public GenerationRequest resolve(GenerationRequest r) {
        return resolve(r, GenerationRequest.MAX_SIZE);
    }

    /**
     * As {@link #resolve(GenerationRequest)}, with width and height limited to {@code maxSize}
     * pixels (a server's limit, e.g. {@code serve --max-size}).
     *
     * @throws InvalidRequestException listing every invalid field
     */
    @Override
    public int maxClipSkip() {
        return Math.min(textEncoder.encoder.layers.size(), GenerationRequest.MAX_CLIP_SKIP);
    }

    @Override
    public GenerationRequest resolve(GenerationRequest r, int maxSize) {
        List<FieldError> errors = new ArrayList<>(r.validate(sizeMultiple(), noiseSchedule.numTrainTimesteps(), maxSize));
        String stepsProblem = r.resolvedSchedule().stepsProblem(noiseSchedule, r.steps());
        if (stepsProblem != null && errors.stream().noneMatch(e -> e.field().equals("steps"))) {
            errors.add(new FieldError("steps", stepsProblem));
        }
        int layers = textEncoder.encoder.layers.size();
        if (r.clipSkip() != null && r.clipSkip() > layers && r.clipSkip() <= GenerationRequest.MAX_CLIP_SKIP) {
            errors.add(new FieldError("clip_skip", "must be between 1 and " + layers + " for this model (its text encoder has "
                    + layers + " layers), got " + r.clipSkip()));
        }
        if (!errors.isEmpty()) {
            throw new InvalidRequestException(errors);
        }
        long seed = r.seed() >= 0 ? r.seed() : (SEEDS.nextLong() & 0xffffffffL);
        int w = r.width() != null ? r.width() : defaultSize();
        int h = r.height() != null ? r.height() : defaultSize();
        return new GenerationRequest(r.prompt(), r.negativePrompt(), r.steps(), r.cfgScale(), seed, r.sampler(),
                r.resolvedSchedule(), r.resolvedGamma(), w, h, r.resolvedSyntax(), r.resolvedClipSkip(), r.resolvedRng());
    }

    /** {@code [1, in_channels, height / vae scale, width / vae scale]}. */
    @Override
    public long[] latentShape(GenerationRequest resolved) {
        int scale = vaeScale();
        return new long[] {1, unet.config().inChannels(), resolved.height() / scale, resolved.width() / scale};
    }

    /** The seed's N(0, I) draw with the request's RNG ({@link dev.tenstep.sampling.RngKind}), {@link #latentShape} values. */
    @Override
    public float[] initialLatents(GenerationRequest resolved) {
        long[] s = latentShape(resolved);
        return resolved.resolvedRng().initialDraw(resolved.seed(), (int) (s[0] * s[1] * s[2] * s[3]));
    }

    /** Stage 1 with the default syntax (A1111) and clip skip 1; see {@link #encodePrompt(String, String, PromptSyntax, int)}. */
    @Override
    public PromptEmbedding encodePrompt(String prompt, String negativePrompt) {
        return encodePrompt(prompt, negativePrompt, PromptSyntax.A1111, 1);
    }

    @Override
    public PromptEmbedding encodePrompt(GenerationRequest request) {
        return encodePrompt(request.prompt(), request.negativePrompt(), request.resolvedSyntax(), request.resolvedClipSkip());
    }

    /**
     * Stage 1: encodes the negative prompt and the prompt (75-token chunks, emphasis, clip skip) for reuse by
     * {@link #generate}; prompt-editing texts of other steps are encoded when a generation needs them.
     *
     * @throws dev.tenstep.pipeline.prompt.PromptSyntaxException if a prompt's emphasis cannot be read
     * @throws IllegalArgumentException if clipSkip is out of range for this text encoder
     */
    public PromptEmbedding encodePrompt(String prompt, String negativePrompt, PromptSyntax syntax, int clipSkip) {
        Map<String, PromptEncoder.Encoded> cache = new ConcurrentHashMap<>();
        Conditioning c = Conditioning.build(promptEncoder, manager, prompt, negativePrompt, 1, syntax, clipSkip, cache);
        return new PromptEmbedding(prompt, negativePrompt, syntax, clipSkip, cache, c.contextAt(0), c.shapeAt(0),
                c.warnings());
    }

    /** Generates one image with default options. */
    @Override
    public GenerationResult generate(GenerationRequest request) {
        return generate(request, null, Options.DEFAULT);
    }

    /**
     * Runs the four stages.
     *
     * @param request   the request (resolved here)
     * @param embedding a precomputed {@link #encodePrompt} of the request's prompts, or null
     * @param options   starting latent, x0-hat recording, step listener
     * @throws InvalidRequestException         if a field is invalid
     * @throws IllegalArgumentException        if the initial latents have the wrong size
     * @throws java.util.concurrent.CancellationException if the listener cancelled
     */
    @Override
    public GenerationResult generate(GenerationRequest request, PromptEmbedding embedding, Options options) {
        GenerationRequest r = resolve(request);
        long t0 = System.nanoTime();
        int scale = vaeScale();
        int h = r.height() / scale;
        int w = r.width() / scale;
        int latentChannels = unet.config().inChannels();
        long[] latentShape = {1, latentChannels, h, w};
        SigmaSchedule schedule = r.schedule().build(noiseSchedule, r.steps());
        LatentSampler sampler = r.sampler().sampler(r.gamma());

        try (NDManager gen = manager.newSubManager()) {
            Map<String, PromptEncoder.Encoded> cache = embedding != null && embedding.matches(r)
                    ? embedding.cache() : new HashMap<>();
            Conditioning cond = Conditioning.build(promptEncoder, gen, r.prompt(), r.negativePrompt(), r.steps(),
                    r.resolvedSyntax(), r.resolvedClipSkip(), cache);
            long tText = System.nanoTime();
            Map<String, NDArray> contexts = new HashMap<>();
            DataType computeType = compute.dtype().dataType();
            java.util.function.IntFunction<NDArray> contextAt = k -> contexts.computeIfAbsent(cond.idAt(k), id -> {
                NDArray c = gen.create(cond.contextAt(k), new Shape(cond.shapeAt(k)));
                // the UNet's cross-attention reads the conditioning in the compute dtype
                return computeType == DataType.FLOAT32 ? c : c.toType(computeType, false);
            });

            NDArray zInit;
            dev.tenstep.sampling.RngKind.SeedNoise seedNoise = r.resolvedRng().open(r.seed());
            if (options.initLatents() != null) {
                if (options.initLatents().length != h * w * latentChannels) {
                    throw new IllegalArgumentException("initial latents have " + options.initLatents().length
                            + " values, expected [1, " + latentChannels + ", " + h + ", " + w + "] for "
                            + r.width() + "x" + r.height());
                }
                zInit = gen.create(options.initLatents(), new Shape(latentShape));
                // the seed's first draw is still taken, so per-step noise is the same as with the seed's latents
                seedNoise.initial(gen, new Shape(latentShape)).close();
            } else {
                zInit = seedNoise.initial(gen, new Shape(latentShape));
            }
            float[] initial = zInit.toFloatArray();

            CfgDenoiser denoiser = new CfgDenoiser(unetFn(), contextAt, r.cfgScale(), noiseSchedule.vPrediction());
            List<float[]> x0hats = new ArrayList<>();
            NDArray zFinal = sampler.sample(denoiser, zInit, schedule, seedNoise.perStep(),
                    stepListener(options, x0hats, t0, h, w, cond::idAt));
            long tDenoise = System.nanoTime();
            float[] finalLatents = zFinal.toFloatArray();
            NonFiniteException.check(finalLatents, "denoising (final latents; UNet " + compute.label() + ")");
            BufferedImage image = decodeChecked(zFinal);
            long tEnd = System.nanoTime();
            String infotext = Infotext.format(r, r.seed(), r.width(), r.height(), name, modelHash,
                    vaeFile == null ? null : new Infotext.Vae(vaeFile.getFileName().toString(), vaeHash), compute);
            return new GenerationResult(image, r, infotext, latentShape, finalLatents, x0hats,
                    schedule.timesteps(), schedule.sigmas(), cond.warnings(),
                    new GenerationResult.Timings((tText - t0) / 1_000_000, (tDenoise - tText) / 1_000_000,
                            (tEnd - tDenoise) / 1_000_000, (tEnd - t0) / 1_000_000), initial);
        }
    }

    /**
     * The sampler's step callback of a generation: reports each step as {@link StepProgress} to the
     * options' listener (x0-hat copied to the host only when the listener asks, {@link StepProgress#x0hat}) and
     * keeps x0-hat in {@code x0hats} when asked. Shared by every {@link TextToImage} that runs the sampler loop.
     *
     * @param t0 {@link System#nanoTime} at the start of the generation (for {@code elapsedMs})
     */
    static dev.tenstep.sampling.StepListener stepListener(Options options, List<float[]> x0hats, long t0, int h, int w) {
        return stepListener(options, x0hats, t0, h, w, k -> "p0/n0");
    }

    /**
     * As {@link #stepListener(Options, List, long, int, int)}, reporting which prompt-schedule entries
     * conditioned each 0-based step ({@link StepProgress#conditioning()}).
     */
    static dev.tenstep.sampling.StepListener stepListener(Options options, List<float[]> x0hats, long t0, int h, int w,
                                                          java.util.function.IntFunction<String> conditioning) {
        Listener listener = options.listener() == null ? Listener.NONE : options.listener();
        return e -> {
            // x0-hat stays on the device unless a listener (or keepX0hats) asks for it: no sync per step
            StepProgress p = StepProgress.onDevice(e.index() + 1, e.total(), e.sigma(), e.timestep(),
                    (System.nanoTime() - t0) / 1_000_000, e.x0hat(), h, w, conditioning.apply(e.index()));
            try {
                if (options.keepX0hats()) {
                    x0hats.add(p.x0hat());
                }
                return listener.onStep(p);
            } finally {
                p.release();
            }
        };
    }

    /**
     * The UNet as the sampler calls it: fp32 latents in and out, attention computed as {@link ComputeSpec#attention}
     * says. Under half precision the latents are narrowed to the compute dtype for the UNet and its output widened
     * back, so the sampler's state stays fp32 (as diffusers' schedulers keep theirs).
     */
    private dev.tenstep.sampling.ModelFn unetFn() {
        DataType computeType = compute.dtype().dataType();
        return (z, t, context) -> {
            try (AttentionSettings.Scope a = AttentionSettings.use(compute.attention())) {
                if (computeType == DataType.FLOAT32) {
                    return unet.forward(z, t, context);
                }
                NDArray zHalf = z.toType(computeType, false);
                NDArray out = unet.forward(zHalf, t, context);
                NDArray out32 = out.toType(DataType.FLOAT32, false);
                out.close();
                zHalf.close();
                return out32;
            }
        };
    }

    /**
     * Stage 4: {@code vae.decode(latents / scaling_factor)}: [1, 4, h, w] pipeline scale, float32 ->
     * [1, 3, H, W] raw, float32; the VAE itself runs in its own dtype ({@link ComputeSpec#vaeDtype}).
     */
    public NDArray decodeLatents(NDArray latents) {
        NDArray scaled = latents.div((float) vae.config().scalingFactor());
        DataType vaeType = compute.vaeDtype().dataType();
        try (AttentionSettings.Scope a = AttentionSettings.use(compute.attention())) {
            if (vaeType == DataType.FLOAT32) {
                return vae.decode(scaled);
            }
            NDArray image = vae.decode(scaled.toType(vaeType, false));
            return image.toType(DataType.FLOAT32, false);
        }
    }

    /**
     * Decodes and converts to RGB; a NaN or infinity in the decoded pixels is an error naming the VAE
     * stage (never a black PNG).
     *
     * @throws NonFiniteException if the decoded image is not finite
     */
    private BufferedImage decodeChecked(NDArray latents) {
        NDArray decoded = decodeLatents(latents);
        long[] s = decoded.getShape().getShape();
        float[] pixels = decoded.toFloatArray();
        NonFiniteException.check(pixels, "VAE decode (" + compute.deviceName() + " " + compute.vaeDtype().id() + ")");
        return Images.toImage(pixels, (int) s[2], (int) s[3]);
    }

    /** Decodes a latent given as row-major floats [1, 4, h, w] to an RGB image (full VAE decode, e.g. for exact previews). */
    public BufferedImage decodeToImage(float[] latents, int h, int w) {
        try (NDManager m = manager.newSubManager()) {
            NDArray z = m.create(latents, new Shape(1, unet.config().inChannels(), h, w));
            return decodeChecked(z);
        }
    }

    /** {@code exact}: a full VAE decode of x0-hat; otherwise {@link Previews#approximate}. */
    @Override
    public BufferedImage preview(StepProgress step, boolean exact) {
        return exact ? decodeToImage(step.x0hat(), step.height(), step.width())
                : Previews.approximate(step.x0hat(), step.height(), step.width());
    }

    @Override
    public void close() {
        tokenizer.close();
        unet.close();
        manager.close();
    }


}
