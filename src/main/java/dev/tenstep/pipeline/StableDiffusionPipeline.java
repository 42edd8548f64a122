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
import dev.tenstep.pipeline.prompt.LoraTags;
import dev.tenstep.pipeline.prompt.PromptEncoder;
import dev.tenstep.pipeline.prompt.PromptSyntax;
import dev.tenstep.sampling.CfgDenoiser;
import dev.tenstep.sampling.NoiseSchedule;
import dev.tenstep.sampling.ScheduleKind;
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
import java.util.function.IntFunction;

/**
 * A Stable Diffusion 1.x/2.x or SDXL text-to-image model loaded from a diffusers folder
 * ({@code model_index.json}, {@code tokenizer/}, {@code text_encoder/}, {@code unet/}, {@code vae/},
 * {@code scheduler/}; SDXL adds {@code tokenizer_2/} and {@code text_encoder_2/}). It contributes the parts of
 * diffusers' {@code StableDiffusionPipeline} / {@code StableDiffusionXLPipeline} to the shared {@link DenoiseStage}:
 * <ol>
 *   <li>conditioning: the prompt and the negative prompt through CLIP (75-token chunks, [2, 77 * chunks, D], row 0
 *       negative; A1111 emphasis, prompt editing per step, clip skip: {@link Conditioning}), and the UNet with
 *       classifier-free guidance on it. SDXL: both text encoders' penultimate states concatenated (D = D1 + D2),
 *       the pooled embedding of encoder 2 and the micro-conditioning {@code time_ids} (original size = target size =
 *       the request's height and width, crop 0, 0: diffusers' and A1111's defaults) as the UNet's added
 *       conditioning, and zeros for the unconditional row when the negative prompt is empty and the model index
 *       says {@code force_zeros_for_empty_prompt} (the empty string is this project's "no negative prompt");</li>
 *   <li>the latent shape [1, 4, h / 8, w / 8];</li>
 *   <li>decode: {@code vae.decode(z / scaling_factor)} ({@code scaling_factor} from the VAE config: 0.18215 for SD,
 *       0.13025 for SDXL).</li>
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
    /** SDXL's {@code tokenizer_2} and {@code text_encoder_2}, else null. */
    private final ClipTokenizer tokenizer2;
    private final ClipTextModel textEncoder2;
    /** SDXL's {@code force_zeros_for_empty_prompt}: an empty negative prompt conditions the unconditional row on zeros. */
    private final boolean zeroEmptyNegative;
    private final UNet2DConditionModel unet;
    private final AutoencoderKL vae;
    private final NoiseSchedule noiseSchedule;
    private final ComputeSpec compute;
    private final PromptEncoder promptEncoder;
    private final ModelDefaults defaults;
    /** The LoRAs merged into the text encoder and UNet, switched per request ({@code <lora:...>} tags). */
    private final LoraSwitch loras;
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
        this(name, dir, manager, tokenizer, textEncoder, null, null, false, unet, vae, noiseSchedule, compute);
    }

    /**
     * A pipeline with SDXL's second text encoder (or, with nulls, an SD 1.x/2.x one).
     *
     * @param tokenizer2        {@code tokenizer_2}, or null (SD 1.x/2.x)
     * @param textEncoder2      {@code text_encoder_2} ({@code CLIPTextModelWithProjection}), or null
     * @param zeroEmptyNegative the model index's {@code force_zeros_for_empty_prompt} (SDXL; false for SD)
     * @throws IllegalArgumentException if the UNet's added conditioning and the second text encoder do not go together
     */
    public StableDiffusionPipeline(String name, Path dir, NDManager manager, ClipTokenizer tokenizer,
                                   ClipTextModel textEncoder, ClipTokenizer tokenizer2, ClipTextModel textEncoder2,
                                   boolean zeroEmptyNegative, UNet2DConditionModel unet, AutoencoderKL vae,
                                   NoiseSchedule noiseSchedule, ComputeSpec compute) {
        if (unet.config().hasTextTimeEmbedding() != (textEncoder2 != null)) {
            throw new IllegalArgumentException(unet.config().hasTextTimeEmbedding()
                    ? "an SDXL UNet (addition_embed_type text_time) needs the second text encoder"
                    : "a second text encoder needs an SDXL UNet (addition_embed_type text_time)");
        }
        this.tokenizer2 = tokenizer2;
        this.textEncoder2 = textEncoder2;
        this.zeroEmptyNegative = zeroEmptyNegative;
        this.compute = compute;
        this.name = name;
        this.dir = dir;
        this.manager = manager;
        this.tokenizer = tokenizer;
        this.textEncoder = textEncoder;
        this.unet = unet;
        this.vae = vae;
        this.noiseSchedule = noiseSchedule;
        this.promptEncoder = new PromptEncoder(tokenizer, textEncoder, tokenizer2, textEncoder2);
        // a folder's tenstep.json (the built-in model's measured CFG); a single file has none
        this.defaults = dir != null && java.nio.file.Files.isDirectory(dir) ? ModelDefaults.of(dir) : ModelDefaults.SD;
        java.util.Map<dev.tenstep.model.lora.LoraNetwork.Component, java.util.Map<String, dev.tenstep.model.nn.Patchable>> layers =
                new java.util.EnumMap<>(dev.tenstep.model.lora.LoraNetwork.Component.class);
        layers.put(dev.tenstep.model.lora.LoraNetwork.Component.TEXT_ENCODER, textEncoder.layers());
        if (textEncoder2 != null) {
            layers.put(dev.tenstep.model.lora.LoraNetwork.Component.TEXT_ENCODER_2, textEncoder2.layers());
        }
        layers.put(dev.tenstep.model.lora.LoraNetwork.Component.UNET, unet.layers());
        this.loras = new LoraSwitch(name, family(), layers, dev.tenstep.model.singlefile.UNetLayout.of(unet.config()), manager);
    }

    /**
     * The family LoRAs must be made for: SDXL with a second text encoder; SD 2.x when the text encoder is OpenCLIP's
     * ({@code hidden_act} gelu; SD 1.x's CLIP ViT-L uses quick_gelu), else SD 1.x.
     */
    public dev.tenstep.model.lora.LoraNetwork.Family family() {
        if (textEncoder2 != null) {
            return dev.tenstep.model.lora.LoraNetwork.Family.SDXL;
        }
        return textEncoder.config().hiddenAct().equals("gelu")
                ? dev.tenstep.model.lora.LoraNetwork.Family.SD2 : dev.tenstep.model.lora.LoraNetwork.Family.SD1;
    }

    /** The LoRAs of this model: the folder {@code <lora:NAME>} tags name, the merged set, the last switch's cost. */
    public LoraSwitch loras() {
        return loras;
    }

    /** Sets the folder whose files {@code <lora:NAME:...>} tags name (see {@link LoraSwitch}); null refuses every tag. */
    public void setLoraCatalog(LoraCatalog catalog) {
        loras.setCatalog(catalog);
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
    @Override
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

    @Override
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

    /** Whether this is an SDXL model (two text encoders, added conditioning). */
    public boolean isXl() {
        return textEncoder2 != null;
    }

    /** SDXL's {@code text_encoder_2}, or null. */
    public ClipTextModel textEncoder2() {
        return textEncoder2;
    }

    /** SDXL's {@code tokenizer_2}, or null. */
    public ClipTokenizer tokenizer2() {
        return tokenizer2;
    }

    /** SDXL: whether an empty negative prompt gives the zero unconditional branch ({@code force_zeros_for_empty_prompt}). */
    public boolean zeroEmptyNegative() {
        return zeroEmptyNegative;
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

    /** The folder's {@value ModelDefaults#FILE}, else {@link ModelDefaults#SD}. */
    @Override
    public ModelDefaults defaults() {
        return defaults;
    }

    @Override
    public boolean isDemo() {
        return DemoModelWriter.isDemo(dir);
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
     * Its text encoder's layer count, at most {@link GenerationRequest#MAX_CLIP_SKIP}; 1 for SDXL, whose conditioning
     * is the penultimate layer of both encoders (A1111 leaves it there too by default).
     */
    @Override
    public int maxClipSkip() {
        return isXl() ? 1 : Math.min(textEncoder.encoder.layers.size(), GenerationRequest.MAX_CLIP_SKIP);
    }

    /**
     * Validates a request (sizes up to {@code maxSize} pixels, clip skip up to the text encoder's layers) and fills
     * its defaults: size from the model, a random 32-bit seed when negative, the sampler's schedule and gamma.
     *
     * @throws InvalidRequestException listing every invalid field
     */
    @Override
    public ResolvedRequest resolve(GenerationRequest r, int maxSize) {
        List<FieldError> errors = new ArrayList<>(r.validate(sizeMultiple(), noiseSchedule.numTrainTimesteps(), maxSize));
        String stepsProblem = (r.schedule() != null ? r.schedule() : r.sampler().defaultSchedule()).stepsProblem(noiseSchedule, r.steps());
        if (stepsProblem != null && errors.stream().noneMatch(e -> e.field().equals("steps"))) {
            errors.add(new FieldError("steps", stepsProblem));
        }
        int layers = textEncoder.encoder.layers.size();
        if (isXl() && r.clipSkip() != null && r.clipSkip() > 1 && r.clipSkip() <= GenerationRequest.MAX_CLIP_SKIP) {
            errors.add(new FieldError("clip_skip", "must be 1 for SDXL (its conditioning is the penultimate layer of both "
                    + "text encoders), got " + r.clipSkip()));
        } else if (r.clipSkip() != null && r.clipSkip() > layers && r.clipSkip() <= GenerationRequest.MAX_CLIP_SKIP) {
            errors.add(new FieldError("clip_skip", "must be between 1 and " + layers + " for this model (its text encoder has "
                    + layers + " layers), got " + r.clipSkip()));
        }
        if (!isXl() && r.micro() != null) {
            errors.addAll(r.micro().refusedBy(name));
        }
        errors.addAll(loras.check(r.prompt(), r.negativePrompt()));
        int width = r.width() != null ? r.width() : defaultSize();
        int height = r.height() != null ? r.height() : defaultSize();
        if (r.img2img() != null) {
            // an unset size is the init image's (rounded down to the size multiple)
            InitImage image = r.img2img().image();
            int[] size = Img2Img.size(image, r.width(), r.height(), sizeMultiple(), Math.min(maxSize,
                    GenerationRequest.MAX_SIZE), errors);
            width = size[0];
            height = size[1];
        }
        if (r.hires() != null && errors.isEmpty()) {
            ScheduleKind kind = r.schedule() != null ? r.schedule() : r.sampler().defaultSchedule();
            r.hires().validate(width, height, r.steps(), kind, noiseSchedule, sizeMultiple(),
                    Math.min(maxSize, GenerationRequest.MAX_SIZE), errors);
        }
        if (!errors.isEmpty()) {
            throw new InvalidRequestException(errors);
        }
        long seed = r.seed() >= 0 ? r.seed() : (SEEDS.nextLong() & 0xffffffffL);
        return r.resolved(seed, width, height, defaults);
    }

    /** The VAE encodes images: img2img works. */
    @Override
    public boolean encodesImages() {
        return true;
    }

    /**
     * {@code scaling_factor * latent_dist.sample(noise)} of {@code vae.encode(image)} (diffusers'
     * {@code retrieve_latents(..., sample_mode="sample")} times the scaling factor, as
     * {@code StableDiffusionImg2ImgPipeline.prepare_latents} makes its init latents); the VAE runs in its dtype
     * ({@link ComputeSpec#vaeDtype}), the result is float32.
     *
     * @param image [1, 3, H, W] float32 in [-1, 1]
     * @param noise [1, 4, H / 8, W / 8] unit variance, float32
     * @throws NonFiniteException if the encoded latents are not finite
     */
    @Override
    public NDArray encode(NDArray image, NDArray noise) {
        DataType vaeType = compute.vaeDtype().dataType();
        NDArray latents;
        try (AttentionSettings.Scope a = AttentionSettings.use(compute.attention())) {
            if (vaeType == DataType.FLOAT32) {
                latents = vae.encode(image).sample(noise);
            } else {
                dev.tenstep.model.vae.LatentDist d = vae.encode(image.toType(vaeType, false));
                latents = new dev.tenstep.model.vae.LatentDist(d.mean().toType(DataType.FLOAT32, false),
                        d.logvar().toType(DataType.FLOAT32, false)).sample(noise);
            }
        }
        NDArray scaled = latents.mul((float) vae.config().scalingFactor());
        NonFiniteException.check(scaled.toFloatArray(), "VAE encode (" + compute.deviceName() + " "
                + compute.vaeDtype().id() + ")");
        return scaled;
    }

    /** {@code [1, in_channels, height / vae scale, width / vae scale]}. */
    @Override
    public long[] latentShape(ResolvedRequest resolved) {
        int scale = vaeScale();
        return new long[] {1, unet.config().inChannels(), resolved.height() / scale, resolved.width() / scale};
    }

    /** Stage 1 with the default syntax (A1111) and clip skip 1; see {@link #encodePrompt(String, String, PromptSyntax, int)}. */
    @Override
    public PromptEmbedding encodePrompt(String prompt, String negativePrompt) {
        return encodePrompt(prompt, negativePrompt, GenerationRequest.DEFAULT_SYNTAX, GenerationRequest.DEFAULT_CLIP_SKIP);
    }

    @Override
    public PromptEmbedding encodePrompt(ResolvedRequest request) {
        return encodePrompt(request.prompt(), request.negativePrompt(), request.promptSyntax(), request.clipSkip());
    }

    /**
     * Stage 1: encodes the negative prompt and the prompt (75-token chunks, emphasis, clip skip) for reuse by
     * {@link #generate}; prompt-editing texts of other steps are encoded when a generation needs them.
     *
     * @throws dev.tenstep.pipeline.prompt.PromptSyntaxException if a prompt's emphasis cannot be read
     * @throws IllegalArgumentException if clipSkip is out of range for this text encoder
     */
    public PromptEmbedding encodePrompt(String prompt, String negativePrompt, PromptSyntax syntax, int clipSkip) {
        // the prompt's LoRAs change the text encoder: encoded with them merged, their tags taken out of the text
        try (LoraSwitch.Lease lease = loras.use(prompt)) {
            Map<String, PromptEncoder.Encoded> cache = new ConcurrentHashMap<>();
            Conditioning c = Conditioning.build(promptEncoder, manager, LoraTags.parse(prompt).text(), negativePrompt, 1,
                    syntax, clipSkip, cache, zeroEmptyNegative);
            List<String> warnings = new ArrayList<>(lease.warnings());
            warnings.addAll(c.warnings());
            return new PromptEmbedding(prompt, negativePrompt, syntax, clipSkip, cache, c.contextAt(0), c.shapeAt(0),
                    warnings);
        }
    }

    /** A sub-manager of the pipeline's manager, on its device. */
    @Override
    public NDManager newManager() {
        return manager.newSubManager();
    }

    /**
     * The CLIP conditioning of the request's prompts per step (A1111 emphasis, prompt editing, clip skip:
     * {@link Conditioning}), each step's context [2, 77 * chunks, D] in the compute dtype, and the UNet with
     * classifier-free guidance ({@link CfgDenoiser}) on it.
     */
    @Override
    public Conditioned condition(ResolvedRequest r, PromptEmbedding embedding, NDManager gen) {
        if (!loras.isApplied(r.prompt())) {
            // generate() and encodePrompt() hold the request's LoRAs; a direct call must not compute with others
            throw new IllegalStateException("condition() of a request whose LoRAs are not merged (LoRAs merged: "
                    + loras.appliedNames() + "): call generate(), which merges them");
        }
        Map<String, PromptEncoder.Encoded> cache = embedding != null && embedding.matches(r)
                ? embedding.cache() : new HashMap<>();
        // A1111 takes the <lora:...> tags out before tokenising (extra_networks.parse_prompt)
        Conditioning cond = Conditioning.build(promptEncoder, gen, LoraTags.parse(r.prompt()).text(), r.negativePrompt(),
                r.steps(), r.promptSyntax(), r.clipSkip(), cache, zeroEmptyNegative);
        Map<String, NDArray> contexts = new HashMap<>();
        DataType computeType = compute.dtype().dataType();
        IntFunction<NDArray> contextAt = k -> contexts.computeIfAbsent(cond.idAt(k), id -> {
            NDArray c = gen.create(cond.contextAt(k), new Shape(cond.shapeAt(k)));
            // the UNet's cross-attention reads the conditioning in the compute dtype
            return computeType == DataType.FLOAT32 ? c : c.toType(computeType, false);
        });
        IntFunction<NDArray> addedAt = null;
        if (isXl()) {
            float[] timeIds = r.timeIds();
            Map<String, NDArray> added = new HashMap<>();
            addedAt = k -> added.computeIfAbsent(cond.idAt(k), id -> addedConditioning(gen, cond.pooledAt(k), timeIds));
        }
        CfgDenoiser denoiser = new CfgDenoiser(unetFn(), contextAt, addedAt, r.cfgScale(), noiseSchedule.vPrediction());
        List<String> warnings = new ArrayList<>(cond.warnings());
        defaults().unknownWordsWarning(name(), r.prompt()).ifPresent(warnings::add);
        return new Conditioned(denoiser, cond::idAt, warnings, "UNet " + compute.label());
    }

    /**
     * Runs a generation ({@link DenoiseStage#run}) with the prompt's LoRAs merged (switching from the LoRAs of
     * earlier requests without reloading the model, see {@link LoraSwitch}); the infotext gains A1111's
     * {@code Lora hashes} and the warnings name LoRA keys that matched no module.
     *
     * @throws InvalidRequestException if a LoRA tag names no file or its file cannot be applied (checked again:
     *                                 the folder may have changed since {@link #resolve})
     */
    @Override
    public GenerationResult generate(ResolvedRequest request, PromptEmbedding embedding, Options options) {
        try (LoraSwitch.Lease lease = loras.use(request.prompt())) {
            GenerationResult result = DenoiseStage.run(this, request, embedding, options);
            if (lease.size() == 0) {
                return result;
            }
            String hashes = lease.hashes();
            List<String> warnings = new ArrayList<>(lease.warnings());
            result.warnings().stream().filter(w -> !warnings.contains(w)).forEach(warnings::add);
            return result.withInfotext(hashes == null ? result.infotext()
                    : Infotext.withField(result.infotext(), "Lora hashes", hashes), warnings);
        }
    }

    /**
     * The added conditioning rows the denoiser slices with the context, float32 [2, P + 6]: the pooled text embeddings
     * (row 0 unconditional, row 1 the prompt) and the same time ids in both rows (diffusers repeats them over the CFG
     * batch); {@link #unetFn} splits them into {@code text_embeds} and {@code time_ids}.
     */
    private static NDArray addedConditioning(NDManager gen, float[] pooled, float[] timeIds) {
        int p = pooled.length / 2;
        int k = p + timeIds.length;
        float[] rows = new float[2 * k];
        for (int b = 0; b < 2; b++) {
            System.arraycopy(pooled, b * p, rows, b * k, p);
            System.arraycopy(timeIds, 0, rows, b * k + p, timeIds.length);
        }
        return gen.create(rows, new Shape(2, k));
    }

    /**
     * The UNet as the sampler calls it: fp32 latents in and out, attention computed as {@link ComputeSpec#attention}
     * says. Under half precision the latents are narrowed to the compute dtype for the UNet and its output widened
     * back, so the sampler's state stays fp32 (as diffusers' schedulers keep theirs).
     */
    private dev.tenstep.sampling.ModelFn unetFn() {
        DataType computeType = compute.dtype().dataType();
        int textDim = unet.config().textEmbedsDim();
        return new dev.tenstep.sampling.ModelFn() {
            @Override
            public NDArray apply(NDArray z, float t, NDArray context) {
                return apply(z, t, context, null);
            }

            /** {@code added} [B, P + 6]: text_embeds then time_ids (SDXL; {@link #addedConditioning}). */
            @Override
            public NDArray apply(NDArray z, float t, NDArray context, NDArray added) {
                try (AttentionSettings.Scope a = AttentionSettings.use(compute.attention())) {
                    dev.tenstep.model.unet.AddedConditioning cond = null;
                    if (added != null) {
                        // the slices are temporaries of this call: in z's manager, as the ModelFn contract asks
                        NDArray textEmbeds = added.get(new ai.djl.ndarray.index.NDIndex(":, :{}", textDim));
                        NDArray timeIds = added.get(new ai.djl.ndarray.index.NDIndex(":, {}:", textDim));
                        textEmbeds.attach(z.getManager());
                        timeIds.attach(z.getManager());
                        cond = new dev.tenstep.model.unet.AddedConditioning(textEmbeds, timeIds);
                    }
                    if (computeType == DataType.FLOAT32) {
                        return unet.forward(z, t, context, cond, null);
                    }
                    NDArray zHalf = z.toType(computeType, false);
                    NDArray out = unet.forward(zHalf, t, context, cond, null);
                    NDArray out32 = out.toType(DataType.FLOAT32, false);
                    out.close();
                    zHalf.close();
                    return out32;
                }
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
     * Stage 4: {@link #decodeLatents}, checked: a NaN or infinity in the decoded pixels is an error naming the VAE
     * stage (never a black PNG).
     *
     * @throws NonFiniteException if the decoded image is not finite
     */
    @Override
    public NDArray decode(NDArray latents) {
        NDArray decoded = decodeLatents(latents);
        NonFiniteException.check(decoded.toFloatArray(), "VAE decode (" + compute.deviceName() + " "
                + compute.vaeDtype().id() + ")");
        return decoded;
    }

    /** Decodes a latent given as row-major floats [1, 4, h, w] to an RGB image (full VAE decode, e.g. for exact previews). */
    public BufferedImage decodeToImage(float[] latents, int h, int w) {
        try (NDManager m = manager.newSubManager()) {
            NDArray z = m.create(latents, new Shape(1, unet.config().inChannels(), h, w));
            return Images.toImage(decode(z));
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
        loras.close();
        tokenizer.close();
        if (tokenizer2 != null) {
            tokenizer2.close();
        }
        unet.close();
        manager.close();
    }


}
