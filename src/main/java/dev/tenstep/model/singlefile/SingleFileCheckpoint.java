package dev.tenstep.model.singlefile;

import dev.tenstep.io.SafeTensors;
import dev.tenstep.io.TensorFile;
import dev.tenstep.io.TorchCheckpoint;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.model.config.TextEncoderConfig;
import dev.tenstep.model.config.Configs;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;

/**
 * A Stable Diffusion checkpoint in the original single-file layout (what AUTOMATIC1111, ComfyUI and
 * stable-diffusion.cpp load), as {@code .safetensors} or as a PyTorch {@code .ckpt} (read by
 * {@link TorchCheckpoint}, which runs no pickled code):
 * <ul>
 *   <li>SD 1.x/2.x (CompVis / Stability LDM): {@code model.diffusion_model.*} (UNet),
 *       {@code first_stage_model.*} (VAE), and {@code cond_stage_model.transformer.*} (SD 1.x,
 *       Hugging Face CLIP) or {@code cond_stage_model.model.*} (SD 2.x, OpenCLIP);</li>
 *   <li>SDXL (Stability SGM, {@code sd_xl_base_1.0.safetensors} and its fine-tunes): the same UNet
 *       (with {@code label_emb}) and VAE prefixes, {@code conditioner.embedders.0.transformer.*}
 *       (text_encoder, Hugging Face CLIP) and {@code conditioner.embedders.1.model.*}
 *       (text_encoder_2, OpenCLIP with {@code text_projection}). SDXL refiner files (one OpenCLIP
 *       embedder {@code conditioner.embedders.0.model.*}, a UNet conditioned on an aesthetic score)
 *       are refused.</li>
 * </ul>
 *
 * <p>{@link #open} sorts every tensor into its network. Tensors that are not weights of the
 * networks ({@code betas}, {@code alphas_cumprod*} and the other DDPM buffers, SGM's
 * {@code denoiser.sigmas}, {@code model_ema.*}, CLIP's {@code position_ids}, OpenCLIP's
 * {@code logit_scale}, and SD 2.x's {@code text_projection}, which its {@code CLIPTextModel} does not
 * have) are recognised and skipped; any other name is a {@link ModelLoadException} naming it. The
 * views ({@link #unet}, {@link #vae}, {@link #textEncoder}, {@link #textEncoder2}, all of them by
 * component name: {@link #components}) present each network under diffusers names to the usual
 * strict loaders, so a missing or mis-shaped weight is named as for diffusers folders.
 */
public final class SingleFileCheckpoint implements AutoCloseable {
    public static final String UNET_PREFIX = "model.diffusion_model.";
    public static final String VAE_PREFIX = "first_stage_model.";
    public static final String HF_CLIP_PREFIX = "cond_stage_model.transformer.";
    public static final String OPEN_CLIP_PREFIX = "cond_stage_model.model.";
    /** SDXL's first text encoder (CLIP ViT-L, Hugging Face names). */
    public static final String SDXL_CLIP_PREFIX = "conditioner.embedders.0.transformer.";
    /** SDXL's second text encoder (OpenCLIP ViT-bigG). */
    public static final String SDXL_OPEN_CLIP_PREFIX = "conditioner.embedders.1.model.";
    /** The only text encoder of an SDXL refiner (OpenCLIP ViT-bigG). */
    static final String SDXL_REFINER_PREFIX = "conditioner.embedders.0.model.";

    /** The diffusers component names of an SD 1.x/2.x checkpoint's networks, in loading order. */
    public static final List<String> SD_COMPONENTS = List.of("text_encoder", "unet", "vae");
    /** The diffusers component names of an SDXL checkpoint's networks, in loading order. */
    public static final List<String> SDXL_COMPONENTS = List.of("text_encoder", "text_encoder_2", "unet", "vae");

    /** The text encoder layout of a checkpoint. */
    public enum TextEncoderKind {
        /** SD 1.x: Hugging Face {@code CLIPTextModel} (OpenAI CLIP ViT-L/14). */
        HF_CLIP,
        /** SD 2.x: OpenCLIP ViT-H/14 text tower with stacked q/k/v. */
        OPEN_CLIP
    }

    /** DDPM buffers of LDM's {@code LatentDiffusion} (training-only; the schedule comes from the scheduler config). */
    private static final Set<String> DDPM_BUFFERS = Set.of("betas", "alphas_cumprod", "alphas_cumprod_prev",
            "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod",
            "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "posterior_variance",
            "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2", "lvlb_weights", "logvar",
            "model_ema.decay", "model_ema.num_updates");
    private static final Set<String> OPEN_CLIP_UNUSED = Set.of("text_projection", "logit_scale", "attn_mask");
    /** SDXL keeps the projection (text_encoder_2 is a {@code CLIPTextModelWithProjection}). */
    private static final Set<String> SDXL_OPEN_CLIP_UNUSED = Set.of("logit_scale", "attn_mask");
    /** SGM's {@code DiscreteDenoiser} buffer (the training sigmas; the schedule comes from the scheduler config). */
    private static final Set<String> SGM_BUFFERS = Set.of("denoiser.sigmas");

    private final TensorFile file;
    private final Map<String, SafeTensors.TensorInfo> unet = new LinkedHashMap<>();
    private final Map<String, SafeTensors.TensorInfo> vae = new LinkedHashMap<>();
    private final Map<String, SafeTensors.TensorInfo> clip = new LinkedHashMap<>();
    /** SDXL's text_encoder_2 (OpenCLIP names below {@link #SDXL_OPEN_CLIP_PREFIX}); empty for SD 1.x/2.x. */
    private final Map<String, SafeTensors.TensorInfo> clip2 = new LinkedHashMap<>();
    private final Map<String, SafeTensors.TensorInfo> ema = new LinkedHashMap<>();
    private final List<String> skipped = new ArrayList<>();
    private TextEncoderKind textEncoderKind;
    /** Whether the text encoders are SGM's {@code conditioner.*} (SDXL) rather than {@code cond_stage_model.*}. */
    private boolean sdxl;
    /** Whether a VAE file ({@link #openVae}) already uses diffusers names ({@code encoder.down_blocks.*}). */
    private boolean diffusersVae;

    private SingleFileCheckpoint(TensorFile file) {
        this.file = file;
    }

    /**
     * Opens {@code file} ({@code .safetensors}, or {@code .ckpt}/{@code .pt}/{@code .pth}) and
     * sorts its tensors into the three networks.
     *
     * @throws ModelLoadException naming the file: unreadable, truncated or corrupted, a refused
     *                            pickle global, a tensor that belongs to no SD 1.x/2.x network, or
     *                            a network that is missing
     */
    public static SingleFileCheckpoint open(Path file) {
        TensorFile tf = openFile(file);
        try {
            SingleFileCheckpoint c = new SingleFileCheckpoint(tf);
            c.classify(true);
            return c;
        } catch (RuntimeException e) {
            closeQuietly(tf);
            throw e;
        }
    }

    /** Sorts the tensors of an already opened file (tests build shape-only files this way). */
    static SingleFileCheckpoint of(TensorFile tf) {
        SingleFileCheckpoint c = new SingleFileCheckpoint(tf);
        c.classify(true);
        return c;
    }

    /**
     * Opens a single-file VAE ({@code *.vae.safetensors}, {@code vae-ft-mse-840000-ema-pruned.ckpt}):
     * the VAE's original names with or without the {@code first_stage_model.} prefix; the
     * discriminator ({@code loss.*}) and EMA counters of training files are skipped. A file in the
     * diffusers layout (a {@code vae/diffusion_pytorch_model.safetensors} taken out of its folder, as
     * the SDXL fp16-fix VAE is also shared) is recognised by its {@code encoder.down_blocks.} /
     * {@code decoder.up_blocks.} names and read under them ({@link #vae}).
     *
     * @throws ModelLoadException naming the file and any tensor that is not a VAE weight
     */
    public static SingleFileCheckpoint openVae(Path file) {
        TensorFile tf = openFile(file);
        try {
            SingleFileCheckpoint c = new SingleFileCheckpoint(tf);
            List<String> unexpected = new ArrayList<>();
            for (Map.Entry<String, SafeTensors.TensorInfo> e : tf.tensors().entrySet()) {
                String k = e.getKey();
                String rest = k.startsWith(VAE_PREFIX) ? k.substring(VAE_PREFIX.length()) : k;
                if (rest.startsWith("loss.") || DDPM_BUFFERS.contains(k)) {
                    c.skipped.add(k);
                } else if (rest.startsWith("encoder.") || rest.startsWith("decoder.") || rest.startsWith("quant_conv.")
                        || rest.startsWith("post_quant_conv.")) {
                    c.vae.put(rest, e.getValue());
                } else {
                    unexpected.add(k);
                }
            }
            if (!unexpected.isEmpty()) {
                throw new ModelLoadException(file + ": not a VAE file: " + unexpected.size() + " tensor(s) that are not VAE "
                        + "weights: " + preview(unexpected));
            }
            if (c.vae.isEmpty()) {
                throw new ModelLoadException(file + ": holds no VAE weights (encoder.*, decoder.*)");
            }
            c.diffusersVae = c.vae.keySet().stream().anyMatch(k -> k.startsWith("encoder.down_blocks.")
                    || k.startsWith("decoder.up_blocks.") || k.startsWith("encoder.mid_block.") || k.startsWith("decoder.mid_block."));
            return c;
        } catch (RuntimeException e) {
            closeQuietly(tf);
            throw e;
        }
    }

    private static TensorFile openFile(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        try {
            if (name.endsWith(".safetensors")) {
                return SafeTensors.open(file);
            }
            if (name.endsWith(".ckpt") || name.endsWith(".pt") || name.endsWith(".pth") || name.endsWith(".bin")) {
                return TorchCheckpoint.open(file);
            }
        } catch (IOException e) {
            throw new ModelLoadException(e.getMessage(), e);
        }
        throw new ModelLoadException(file + ": unknown checkpoint type (expected .safetensors or .ckpt)");
    }

    private void classify(boolean requireAll) {
        List<String> unexpected = new ArrayList<>();
        List<String> refiner = new ArrayList<>();
        boolean ldmText = false;
        for (Map.Entry<String, SafeTensors.TensorInfo> e : file.tensors().entrySet()) {
            String k = e.getKey();
            SafeTensors.TensorInfo info = e.getValue();
            if (k.startsWith(UNET_PREFIX)) {
                unet.put(k.substring(UNET_PREFIX.length()), info);
            } else if (k.startsWith(VAE_PREFIX)) {
                String rest = k.substring(VAE_PREFIX.length());
                if (rest.startsWith("loss.")) {
                    skipped.add(k);
                } else {
                    vae.put(rest, info);
                }
            } else if (k.startsWith(HF_CLIP_PREFIX) || k.startsWith(SDXL_CLIP_PREFIX)) {
                boolean xl = k.startsWith(SDXL_CLIP_PREFIX);
                ldmText |= !xl;
                sdxl |= xl;
                String rest = k.substring(xl ? SDXL_CLIP_PREFIX.length() : HF_CLIP_PREFIX.length());
                if (rest.endsWith("position_ids")) {
                    skipped.add(k);
                } else {
                    setKind(TextEncoderKind.HF_CLIP);
                    clip.put(rest, info);
                }
            } else if (k.startsWith(OPEN_CLIP_PREFIX)) {
                ldmText = true;
                String rest = k.substring(OPEN_CLIP_PREFIX.length());
                // position_ids: a buffer; diffusers' conversion script writes it under this prefix too
                if (OPEN_CLIP_UNUSED.contains(rest) || rest.endsWith("embeddings.position_ids")) {
                    skipped.add(k);
                } else {
                    setKind(TextEncoderKind.OPEN_CLIP);
                    clip.put(rest, info);
                }
            } else if (k.startsWith(SDXL_OPEN_CLIP_PREFIX)) {
                sdxl = true;
                String rest = k.substring(SDXL_OPEN_CLIP_PREFIX.length());
                if (SDXL_OPEN_CLIP_UNUSED.contains(rest) || rest.endsWith("embeddings.position_ids")) {
                    skipped.add(k);
                } else {
                    clip2.put(rest, info);
                }
            } else if (k.startsWith(SDXL_REFINER_PREFIX)) {
                refiner.add(k);
            } else if (DDPM_BUFFERS.contains(k) || SGM_BUFFERS.contains(k)) {
                skipped.add(k);
            } else if (k.startsWith("model_ema.")) {
                ema.put(k, info);
            } else {
                unexpected.add(k);
            }
        }
        if (!refiner.isEmpty() && clip.isEmpty()) {
            SafeTensors.TensorInfo label = unet.get("label_emb.0.0.weight");
            throw new ModelLoadException(file.file() + ": an SDXL refiner checkpoint (its only text encoder is OpenCLIP, "
                    + SDXL_REFINER_PREFIX + "*; its UNet is conditioned on an aesthetic score"
                    + (label == null ? "" : ", label_emb input " + label.shape()[label.shape().length - 1])
                    + "). Refiner models are not supported: use an SDXL base model or a fine-tune of it");
        }
        unexpected.addAll(refiner);
        if (ldmText && sdxl) {
            throw new ModelLoadException(file.file() + ": holds both SD 1.x/2.x (cond_stage_model.*) and SDXL "
                    + "(conditioner.*) text encoders");
        }
        if (!unexpected.isEmpty()) {
            throw new ModelLoadException(file.file() + ": " + unexpected.size() + " tensor(s) that belong to no Stable "
                    + "Diffusion " + (sdxl ? "XL" : "1.x/2.x") + " network: " + preview(unexpected));
        }
        if (requireAll) {
            List<String> missing = new ArrayList<>();
            if (unet.isEmpty()) {
                missing.add("the UNet (" + UNET_PREFIX + "*)");
            }
            if (vae.isEmpty()) {
                missing.add("the VAE (" + VAE_PREFIX + "*)");
            }
            if (sdxl) {
                if (clip.isEmpty()) {
                    missing.add("the first text encoder (" + SDXL_CLIP_PREFIX + "*)");
                }
                if (clip2.isEmpty()) {
                    missing.add("the second text encoder (" + SDXL_OPEN_CLIP_PREFIX + "*)");
                }
            } else if (clip.isEmpty()) {
                missing.add("the text encoder (" + HF_CLIP_PREFIX + "* or " + OPEN_CLIP_PREFIX + "*)");
            }
            if (!missing.isEmpty()) {
                throw new ModelLoadException(file.file() + ": not a complete Stable Diffusion checkpoint: it holds no weights of "
                        + String.join(", ", missing) + (unet.isEmpty() && !vae.isEmpty() && clip.isEmpty() && clip2.isEmpty()
                        ? " (a VAE file? use it with --vae)" : ""));
            }
        }
    }

    private void setKind(TextEncoderKind kind) {
        if (textEncoderKind != null && textEncoderKind != kind) {
            throw new ModelLoadException(file.file() + ": holds both an SD 1.x (" + HF_CLIP_PREFIX + ") and an SD 2.x ("
                    + OPEN_CLIP_PREFIX + ") text encoder");
        }
        textEncoderKind = kind;
    }

    private static String preview(List<String> names) {
        List<String> l = new ArrayList<>(new TreeSet<>(names));
        return l.size() <= 10 ? l.toString() : l.subList(0, 10) + " and " + (l.size() - 10) + " more";
    }

    /** Family labels of {@link #family}. */
    public static final String SD1 = "SD 1.x", SD2 = "SD 2.x", SDXL = "SDXL", SDXL_REFINER = "SDXL refiner";

    /**
     * The model family a checkpoint's tensor names show, from the text encoders' prefixes alone (nothing is sorted,
     * checked or read: for model listings): {@link #SDXL} ({@code conditioner.embedders.1.model.*}), {@link
     * #SDXL_REFINER} (only {@code conditioner.embedders.0.model.*}), {@link #SD2} ({@code cond_stage_model.model.*}),
     * {@link #SD1} ({@code cond_stage_model.transformer.*}), or null (none of them: a VAE, a LoRA, another model).
     */
    public static String family(Iterable<String> names) {
        boolean xl2 = false, refiner = false, sd2 = false, sd1 = false;
        for (String n : names) {
            xl2 |= n.startsWith(SDXL_OPEN_CLIP_PREFIX);
            refiner |= n.startsWith(SDXL_REFINER_PREFIX);
            sd2 |= n.startsWith(OPEN_CLIP_PREFIX);
            sd1 |= n.startsWith(HF_CLIP_PREFIX);
        }
        return xl2 ? SDXL : refiner ? SDXL_REFINER : sd2 ? SD2 : sd1 ? SD1 : null;
    }

    public Path file() {
        return file.file();
    }

    /** The layout of the (first) text encoder: Hugging Face CLIP (SD 1.x, SDXL) or OpenCLIP (SD 2.x). */
    public TextEncoderKind textEncoderKind() {
        return textEncoderKind;
    }

    /** True for an SDXL checkpoint (SGM layout: {@code conditioner.embedders.0/1} text encoders). */
    public boolean isSdxl() {
        return sdxl;
    }

    /** The UNet tensors by original name below {@code model.diffusion_model.} (shapes only). */
    public Map<String, SafeTensors.TensorInfo> unetTensors() {
        return java.util.Collections.unmodifiableMap(unet);
    }

    /** The (first) text encoder tensors by original name below its prefix (shapes only). */
    public Map<String, SafeTensors.TensorInfo> textEncoderTensors() {
        return java.util.Collections.unmodifiableMap(clip);
    }

    /** SDXL's second text encoder tensors by OpenCLIP name below {@link #SDXL_OPEN_CLIP_PREFIX}; empty for SD 1.x/2.x. */
    public Map<String, SafeTensors.TensorInfo> textEncoder2Tensors() {
        return java.util.Collections.unmodifiableMap(clip2);
    }

    /** The VAE tensors by original name below {@code first_stage_model.} (shapes only). */
    public Map<String, SafeTensors.TensorInfo> vaeTensors() {
        return java.util.Collections.unmodifiableMap(vae);
    }

    /** Names recognised as non-weights and skipped (DDPM buffers, {@code position_ids}, ...). */
    public List<String> skipped() {
        return java.util.Collections.unmodifiableList(skipped);
    }

    /** True when the file also holds an EMA copy of the UNet ({@code model_ema.*} weights). */
    public boolean hasEma() {
        return !ema.isEmpty();
    }

    /** The {@code global_step} of a Lightning {@code .ckpt}, if any. */
    public OptionalLong globalStep() {
        return file instanceof TorchCheckpoint t ? t.globalStep() : OptionalLong.empty();
    }

    /** Loads a small tensor's values as doubles (architecture heuristics). */
    double[] values(SafeTensors.TensorInfo info) {
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager()) {
            float[] f = file.load(m, info).toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray();
            double[] d = new double[f.length];
            for (int i = 0; i < f.length; i++) {
                d[i] = f[i];
            }
            return d;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The UNet under diffusers names ({@link CheckpointKeys#unet}); a tensor that has no place in
     * {@code layout} keeps its original name, which the strict loader reports as unexpected.
     *
     * @param layout the block layout of the UNet config ({@link UNetLayout#read})
     * @param ema    take the weights from the EMA copy ({@code model_ema.*}, see
     *               {@link CheckpointKeys#emaName}) instead of {@code model.diffusion_model.*}
     * @throws ModelLoadException if {@code ema} is asked for and the file has no (complete) EMA copy
     */
    public TensorFile unet(UNetLayout layout, boolean ema) {
        if (ema && this.ema.isEmpty()) {
            throw new ModelLoadException(file.file() + ": --ema: the file holds no EMA weights (model_ema.*); "
                    + "'-emaonly' and pruned files already hold the EMA weights as the model");
        }
        Map<String, SafeTensors.TensorInfo> out = new LinkedHashMap<>();
        for (Map.Entry<String, SafeTensors.TensorInfo> e : unet.entrySet()) {
            String mapped = CheckpointKeys.unet(e.getKey(), layout);
            SafeTensors.TensorInfo info = e.getValue();
            if (ema) {
                String emaKey = CheckpointKeys.emaName(e.getKey());
                SafeTensors.TensorInfo emaInfo = this.ema.get(emaKey);
                if (emaInfo == null || !Arrays.equals(emaInfo.shape(), info.shape())) {
                    throw new ModelLoadException(file.file() + ": --ema: " + (emaInfo == null ? "no EMA copy '" + emaKey + "'"
                            : "EMA copy '" + emaKey + "' has shape " + Arrays.toString(emaInfo.shape())) + " of '"
                            + UNET_PREFIX + e.getKey() + "' " + Arrays.toString(info.shape()));
                }
                info = emaInfo;
            }
            if (mapped == null) {
                out.put(UNET_PREFIX + e.getKey(), info);
            } else {
                out.put(mapped, ComponentView.renamed(info, mapped));
            }
        }
        return new ComponentView(file, out);
    }

    /**
     * The VAE under diffusers names (mid-block attention 1x1 convolutions read as linear weights);
     * the number of decoder levels is read from the file's {@code decoder.up.N} indices. A diffusers-layout
     * VAE file keeps its names, legacy attention names ({@code query}, ..., {@code proj_attn}) made current
     * as a folder's are ({@link dev.tenstep.model.vae.VaeNames#toCurrent}).
     */
    public TensorFile vae() {
        Map<String, SafeTensors.TensorInfo> out = new LinkedHashMap<>();
        if (diffusersVae) {
            vae.forEach((k, info) -> {
                String n = dev.tenstep.model.vae.VaeNames.toCurrent(k);
                out.put(n, ComponentView.renamed(info, n));
            });
            return new ComponentView(file, out);
        }
        List<Integer> upIndices = CheckpointKeys.upIndices(vae.keySet());
        for (Map.Entry<String, SafeTensors.TensorInfo> e : vae.entrySet()) {
            CheckpointKeys.Mapped m = CheckpointKeys.vae(e.getKey(), upIndices);
            SafeTensors.TensorInfo info = e.getValue();
            if (m == null) {
                out.put(VAE_PREFIX + e.getKey(), info);
            } else if (m.convToLinear() && info.shape().length == 4 && info.shape()[2] == 1 && info.shape()[3] == 1) {
                out.put(m.name(), ComponentView.reshaped(info, m.name(), info.shape()[0], info.shape()[1]));
            } else {
                out.put(m.name(), ComponentView.renamed(info, m.name()));
            }
        }
        return new ComponentView(file, out);
    }

    /**
     * The (first) text encoder under transformers' {@code CLIPTextModel} names. For OpenCLIP
     * (SD 2.x) the stacked q/k/v are split, and the block after the configured
     * {@code num_hidden_layers} (the last block, which SD 2.x skips by conditioning on the
     * penultimate layer) is skipped.
     *
     * @throws ModelLoadException if a stacked {@code in_proj} does not have 3 x D rows
     */
    public TensorFile textEncoder(TextEncoderConfig config) {
        if (textEncoderKind == TextEncoderKind.HF_CLIP) {
            Map<String, SafeTensors.TensorInfo> out = new LinkedHashMap<>();
            for (Map.Entry<String, SafeTensors.TensorInfo> e : clip.entrySet()) {
                String n = CheckpointKeys.hfClip(e.getKey());
                out.put(n, ComponentView.renamed(e.getValue(), n));
            }
            return new ComponentView(file, out);
        }
        return openClipView(clip, OPEN_CLIP_PREFIX, config);
    }

    /**
     * SDXL's second text encoder under transformers' {@code CLIPTextModelWithProjection} names
     * (OpenCLIP mapped as for SD 2.x, see {@link CheckpointKeys#openClip}): {@code text_model.*} and
     * {@code text_projection.weight} [projection_dim, hidden_size], the transpose of the stored
     * {@code text_projection}. SDXL files keep every block (the pipeline picks the penultimate
     * hidden state itself), so none is skipped unless the file has one more than the config.
     *
     * @throws ModelLoadException if this is not an SDXL checkpoint, or a stacked {@code in_proj}
     *                            does not have 3 x D rows
     */
    public TensorFile textEncoder2(TextEncoderConfig config) {
        if (!sdxl) {
            throw new ModelLoadException(file.file() + ": not an SDXL checkpoint: it has no second text encoder ("
                    + SDXL_OPEN_CLIP_PREFIX + "*)");
        }
        return openClipView(clip2, SDXL_OPEN_CLIP_PREFIX, config);
    }

    /** An OpenCLIP text tower ({@code tensors} by name below {@code prefix}) under transformers' names. */
    private TensorFile openClipView(Map<String, SafeTensors.TensorInfo> tensors, String prefix, TextEncoderConfig config) {
        Map<String, SafeTensors.TensorInfo> out = new LinkedHashMap<>();
        Set<String> transposed = new java.util.HashSet<>();
        for (Map.Entry<String, SafeTensors.TensorInfo> e : tensors.entrySet()) {
            SafeTensors.TensorInfo info = e.getValue();
            CheckpointKeys.ClipMapped[] mapped = CheckpointKeys.openClip(e.getKey());
            if (mapped == null) {
                out.put(prefix + e.getKey(), info);
                continue;
            }
            if (mapped[0].layer() == config.numHiddenLayers()) {
                continue;
            }
            for (CheckpointKeys.ClipMapped m : mapped) {
                if (m.transposed()) {
                    if (info.shape().length != 2) {
                        throw new ModelLoadException(file.file() + ": '" + prefix + e.getKey() + "' has shape "
                                + Arrays.toString(info.shape()) + ": a projection needs a matrix [hidden, projection]");
                    }
                    out.put(m.name(), ComponentView.transposed(info, m.name()));
                    transposed.add(m.name());
                } else if (m.qkvPart() < 0) {
                    out.put(m.name(), ComponentView.renamed(info, m.name()));
                } else {
                    if (info.shape().length == 0 || info.shape()[0] % 3 != 0) {
                        throw new ModelLoadException(file.file() + ": '" + prefix + e.getKey() + "' has shape "
                                + Arrays.toString(info.shape()) + ": a stacked q/k/v projection needs 3 x D rows");
                    }
                    out.put(m.name(), ComponentView.third(info, m.name(), m.qkvPart()));
                }
            }
        }
        return new ComponentView(file, out, transposed);
    }

    /**
     * Every network of the checkpoint under its diffusers component name ({@link #SD_COMPONENTS} or
     * {@link #SDXL_COMPONENTS}, in that order), each view named as the weight file of that
     * component folder would be, with the layout read from {@code configDir}'s
     * {@code <component>/config.json}: what a pipeline assembler that loads a diffusers folder
     * component by component needs to load this file instead.
     *
     * @param configDir a diffusers folder with at least the components' config files
     * @param ema       the UNet from the EMA copy (see {@link #unet})
     * @throws ModelLoadException naming a missing or invalid config file, or as the views do
     */
    public Map<String, TensorFile> components(Path configDir, boolean ema) {
        Map<String, TensorFile> out = new LinkedHashMap<>();
        out.put("text_encoder", textEncoder(Configs.read(configDir.resolve("text_encoder/config.json"), TextEncoderConfig.class)));
        if (sdxl) {
            out.put("text_encoder_2", textEncoder2(Configs.read(configDir.resolve("text_encoder_2/config.json"),
                    TextEncoderConfig.class)));
        }
        out.put("unet", unet(UNetLayout.read(configDir.resolve("unet/config.json")), ema));
        out.put("vae", vae());
        return java.util.Collections.unmodifiableMap(out);
    }

    @Override
    public void close() {
        closeQuietly(file);
    }

    private static void closeQuietly(TensorFile f) {
        try {
            f.close();
        } catch (IOException ignored) {
            // a read-only channel: nothing to flush
        }
    }
}
