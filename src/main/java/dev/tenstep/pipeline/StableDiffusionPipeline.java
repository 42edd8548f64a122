package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.sampling.ModelFn;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.model.clip.ClipTextModel;
import dev.tenstep.model.clip.ClipTokenizer;
import dev.tenstep.model.config.Configs;
import dev.tenstep.model.config.ModelIndex;
import dev.tenstep.model.config.SchedulerConfig;
import dev.tenstep.model.unet.UNet2DConditionModel;
import dev.tenstep.model.vae.AutoencoderKL;
import dev.tenstep.sampling.CfgDenoiser;
import dev.tenstep.sampling.NoiseSchedule;
import dev.tenstep.sampling.NoiseSource;
import dev.tenstep.sampling.Sampler;
import dev.tenstep.sampling.ScheduleKind;
import dev.tenstep.sampling.SeededRandom;
import dev.tenstep.sampling.SigmaSchedule;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;

/**
 * A Stable Diffusion 1.x/2.x text-to-image pipeline loaded from a diffusers folder
 * ({@code model_index.json}, {@code tokenizer/}, {@code text_encoder/}, {@code unet/}, {@code vae/},
 * {@code scheduler/}), run in the stages of diffusers' {@code StableDiffusionPipeline}:
 * <ol>
 *   <li>encode the prompt and the negative prompt (CLIP, [2, 77, D], row 0 negative);</li>
 *   <li>prepare the starting latent z ~ N(0, I) [1, 4, h, w] from the seed (or given);</li>
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

    /** Receives each denoising step; return false to cancel the generation. */
    @FunctionalInterface
    public interface Listener {
        Listener NONE = p -> true;

        boolean onStep(StepProgress progress);
    }

    /** Optional inputs and outputs of a generation beyond the request. */
    public record Options(float[] initLatents, boolean keepX0hats, Listener listener) {
        public static final Options DEFAULT = new Options(null, false, Listener.NONE);

        public Options withListener(Listener l) {
            return new Options(initLatents, keepX0hats, l);
        }
    }

    /** The text conditioning of one (prompt, negative prompt) pair: [2, 77, D], row 0 negative, row 1 prompt. */
    public record PromptEmbedding(String prompt, String negativePrompt, float[] data, long[] shape, List<String> warnings) {
    }

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
    public GenerationRequest resolve(GenerationRequest r, int maxSize) {
        List<FieldError> errors = r.validate(sizeMultiple(), noiseSchedule.numTrainTimesteps(), maxSize);
        if (!errors.isEmpty()) {
            throw new InvalidRequestException(errors);
        }
        long seed = r.seed() >= 0 ? r.seed() : (SEEDS.nextLong() & 0xffffffffL);
        int w = r.width() != null ? r.width() : defaultSize();
        int h = r.height() != null ? r.height() : defaultSize();
        return new GenerationRequest(r.prompt(), r.negativePrompt(), r.steps(), r.cfgScale(), seed, r.sampler(),
                r.resolvedSchedule(), r.resolvedGamma(), w, h);
    }

    /** {@code [1, in_channels, height / vae scale, width / vae scale]}. */
    @Override
    public long[] latentShape(GenerationRequest resolved) {
        int scale = vaeScale();
        return new long[] {1, unet.config().inChannels(), resolved.height() / scale, resolved.width() / scale};
    }

    /** The seeded N(0, I) draw of {@link SeededRandom} for the request's seed, {@link #latentShape} values. */
    @Override
    public float[] initialLatents(GenerationRequest resolved) {
        long[] s = latentShape(resolved);
        return new SeededRandom(resolved.seed()).nextGaussians((int) (s[0] * s[1] * s[2] * s[3]));
    }

    /** Stage 1: tokenizes and encodes the negative prompt and the prompt into [2, 77, D]. */
    @Override
    public PromptEmbedding encodePrompt(String prompt, String negativePrompt) {
        List<String> warnings = new ArrayList<>();
        ClipTokenizer.Encoding neg = tokenizer.encode(negativePrompt);
        ClipTokenizer.Encoding pos = tokenizer.encode(prompt);
        if (pos.truncated()) {
            warnings.add("prompt is longer than 77 tokens (" + pos.tokenCount() + "); dropped: \"" + pos.droppedText() + "\"");
        }
        if (neg.truncated()) {
            warnings.add("negative prompt is longer than 77 tokens (" + neg.tokenCount() + "); dropped: \"" + neg.droppedText() + "\"");
        }
        try (NDManager m = manager.newSubManager()) {
            long[] ids = new long[2 * ClipTokenizer.MAX_LENGTH];
            System.arraycopy(neg.ids(), 0, ids, 0, ClipTokenizer.MAX_LENGTH);
            System.arraycopy(pos.ids(), 0, ids, ClipTokenizer.MAX_LENGTH, ClipTokenizer.MAX_LENGTH);
            NDArray out = textEncoder.forward(m.create(ids, new Shape(2, ClipTokenizer.MAX_LENGTH)));
            if (out.getDataType() != DataType.FLOAT32) {
                out = out.toType(DataType.FLOAT32, false);
            }
            return new PromptEmbedding(prompt, negativePrompt, out.toFloatArray(), out.getShape().getShape(), warnings);
        }
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
        Sampler sampler = r.sampler().sampler(r.gamma());

        try (NDManager gen = manager.newSubManager()) {
            PromptEmbedding emb = embedding;
            if (emb == null || !emb.prompt().equals(r.prompt()) || !emb.negativePrompt().equals(r.negativePrompt())) {
                emb = encodePrompt(r.prompt(), r.negativePrompt());
            }
            long tText = System.nanoTime();
            NDArray context = gen.create(emb.data(), new Shape(emb.shape()));
            DataType computeType = compute.dtype().dataType();
            if (computeType != DataType.FLOAT32) {
                context = context.toType(computeType, false);
            }

            NDArray zInit;
            if (options.initLatents() != null) {
                if (options.initLatents().length != h * w * latentChannels) {
                    throw new IllegalArgumentException("initial latents have " + options.initLatents().length
                            + " values, expected [1, " + latentChannels + ", " + h + ", " + w + "] for "
                            + r.width() + "x" + r.height());
                }
                zInit = gen.create(options.initLatents(), new Shape(latentShape));
            } else {
                zInit = SeededRandom.latent(r.seed(), gen, new Shape(latentShape));
            }

            CfgDenoiser denoiser = new CfgDenoiser(unetFn(), context, r.cfgScale(), noiseSchedule);
            List<float[]> x0hats = new ArrayList<>();
            Listener listener = options.listener() == null ? Listener.NONE : options.listener();
            NDArray zFinal = sampler.sample(denoiser, zInit, schedule, NoiseSource.seeded(r.seed()), e -> {
                float[] x0 = e.x0hat().toFloatArray();
                if (options.keepX0hats()) {
                    x0hats.add(x0);
                }
                return listener.onStep(new StepProgress(e.index() + 1, e.total(), e.sigma(), e.timestep(),
                        (System.nanoTime() - t0) / 1_000_000, x0, h, w));
            });
            long tDenoise = System.nanoTime();
            float[] finalLatents = zFinal.toFloatArray();
            NonFiniteException.check(finalLatents, "denoising (final latents; UNet " + compute.label() + ")");
            BufferedImage image = decodeChecked(zFinal);
            long tEnd = System.nanoTime();
            String infotext = Infotext.format(r, r.seed(), r.width(), r.height(), name, compute);
            return new GenerationResult(image, r, infotext, latentShape, finalLatents, x0hats,
                    schedule.timesteps(), schedule.sigmas(), emb.warnings(),
                    new GenerationResult.Timings((tText - t0) / 1_000_000, (tDenoise - tText) / 1_000_000,
                            (tEnd - tDenoise) / 1_000_000, (tEnd - t0) / 1_000_000));
        }
    }

    /**
     * The UNet as the sampler calls it: fp32 latents in and out. Under half precision the latents are
     * narrowed to the compute dtype for the UNet and its output widened back, so the sampler's state
     * stays fp32 (as diffusers' schedulers keep theirs); in fp32 it is the UNet itself.
     */
    private ModelFn unetFn() {
        DataType computeType = compute.dtype().dataType();
        if (computeType == DataType.FLOAT32) {
            return unet::forward;
        }
        return (z, t, context) -> {
            NDArray zHalf = z.toType(computeType, false);
            NDArray out = unet.forward(zHalf, t, context);
            NDArray out32 = out.toType(DataType.FLOAT32, false);
            out.close();
            zHalf.close();
            return out32;
        };
    }

    /**
     * Stage 4: {@code vae.decode(latents / scaling_factor)}: [1, 4, h, w] pipeline scale, float32 ->
     * [1, 3, H, W] raw, float32; the VAE itself runs in its own dtype ({@link ComputeSpec#vaeDtype}).
     */
    public NDArray decodeLatents(NDArray latents) {
        NDArray scaled = latents.div((float) vae.config().scalingFactor());
        DataType vaeType = compute.vaeDtype().dataType();
        if (vaeType == DataType.FLOAT32) {
            return vae.decode(scaled);
        }
        NDArray image = vae.decode(scaled.toType(vaeType, false));
        return image.toType(DataType.FLOAT32, false);
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
