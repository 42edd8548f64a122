package dev.tenstep.model.singlefile;

import dev.tenstep.io.SafeTensors;
import dev.tenstep.io.TensorFile;
import dev.tenstep.io.TorchCheckpoint;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.model.config.TextEncoderConfig;
import dev.tenstep.model.config.UNetConfig;
import dev.tenstep.model.config.VaeConfig;

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
 * A Stable Diffusion 1.x/2.x checkpoint in the original CompVis / Stability single-file layout
 * (what AUTOMATIC1111, ComfyUI and stable-diffusion.cpp load): {@code model.diffusion_model.*}
 * (UNet), {@code first_stage_model.*} (VAE), and {@code cond_stage_model.transformer.*} (SD 1.x,
 * Hugging Face CLIP) or {@code cond_stage_model.model.*} (SD 2.x, OpenCLIP), as {@code .safetensors}
 * or as a PyTorch {@code .ckpt} (read by {@link TorchCheckpoint}, which runs no pickled code).
 *
 * <p>{@link #open} sorts every tensor into its network. Tensors that are not weights of the three
 * networks ({@code betas}, {@code alphas_cumprod*} and the other DDPM buffers, {@code model_ema.*},
 * CLIP's {@code position_ids}, OpenCLIP's {@code text_projection} and {@code logit_scale}) are
 * recognised and skipped; any other name is a {@link ModelLoadException} naming it. The views
 * ({@link #unet}, {@link #vae}, {@link #textEncoder}) present each network under diffusers names to
 * the usual strict loaders, so a missing or mis-shaped weight is named as for diffusers folders.
 */
public final class SingleFileCheckpoint implements AutoCloseable {
    public static final String UNET_PREFIX = "model.diffusion_model.";
    public static final String VAE_PREFIX = "first_stage_model.";
    public static final String HF_CLIP_PREFIX = "cond_stage_model.transformer.";
    public static final String OPEN_CLIP_PREFIX = "cond_stage_model.model.";

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

    private final TensorFile file;
    private final Map<String, SafeTensors.TensorInfo> unet = new LinkedHashMap<>();
    private final Map<String, SafeTensors.TensorInfo> vae = new LinkedHashMap<>();
    private final Map<String, SafeTensors.TensorInfo> clip = new LinkedHashMap<>();
    private final Map<String, SafeTensors.TensorInfo> ema = new LinkedHashMap<>();
    private final List<String> skipped = new ArrayList<>();
    private TextEncoderKind textEncoderKind;

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
     * discriminator ({@code loss.*}) and EMA counters of training files are skipped.
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
        boolean sdxl = false;
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
            } else if (k.startsWith(HF_CLIP_PREFIX)) {
                String rest = k.substring(HF_CLIP_PREFIX.length());
                if (rest.endsWith("position_ids")) {
                    skipped.add(k);
                } else {
                    setKind(TextEncoderKind.HF_CLIP);
                    clip.put(rest, info);
                }
            } else if (k.startsWith(OPEN_CLIP_PREFIX)) {
                String rest = k.substring(OPEN_CLIP_PREFIX.length());
                // position_ids: a buffer; diffusers' conversion script writes it under this prefix too
                if (OPEN_CLIP_UNUSED.contains(rest) || rest.endsWith("embeddings.position_ids")) {
                    skipped.add(k);
                } else {
                    setKind(TextEncoderKind.OPEN_CLIP);
                    clip.put(rest, info);
                }
            } else if (DDPM_BUFFERS.contains(k)) {
                skipped.add(k);
            } else if (k.startsWith("model_ema.")) {
                ema.put(k, info);
            } else {
                sdxl |= k.startsWith("conditioner.");
                unexpected.add(k);
            }
        }
        if (sdxl) {
            throw new ModelLoadException(file.file() + ": an SDXL checkpoint (conditioner.* text encoders); only Stable "
                    + "Diffusion 1.x and 2.x are supported");
        }
        if (!unexpected.isEmpty()) {
            throw new ModelLoadException(file.file() + ": " + unexpected.size() + " tensor(s) that belong to no Stable "
                    + "Diffusion 1.x/2.x network: " + preview(unexpected));
        }
        if (requireAll) {
            List<String> missing = new ArrayList<>();
            if (unet.isEmpty()) {
                missing.add("the UNet (" + UNET_PREFIX + "*)");
            }
            if (vae.isEmpty()) {
                missing.add("the VAE (" + VAE_PREFIX + "*)");
            }
            if (clip.isEmpty()) {
                missing.add("the text encoder (" + HF_CLIP_PREFIX + "* or " + OPEN_CLIP_PREFIX + "*)");
            }
            if (!missing.isEmpty()) {
                throw new ModelLoadException(file.file() + ": not a complete Stable Diffusion checkpoint: it holds no weights of "
                        + String.join(", ", missing) + (unet.isEmpty() && !vae.isEmpty() && clip.isEmpty()
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

    public Path file() {
        return file.file();
    }

    public TextEncoderKind textEncoderKind() {
        return textEncoderKind;
    }

    /** The UNet tensors by original name below {@code model.diffusion_model.} (shapes only). */
    public Map<String, SafeTensors.TensorInfo> unetTensors() {
        return java.util.Collections.unmodifiableMap(unet);
    }

    /** The text encoder tensors by original name below its prefix (shapes only). */
    public Map<String, SafeTensors.TensorInfo> textEncoderTensors() {
        return java.util.Collections.unmodifiableMap(clip);
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
     * The UNet under diffusers names.
     *
     * @param ema take the weights from the EMA copy ({@code model_ema.*}, see
     *            {@link CheckpointKeys#emaName}) instead of {@code model.diffusion_model.*}
     * @throws ModelLoadException if {@code ema} is asked for and the file has no (complete) EMA copy
     */
    public TensorFile unet(UNetConfig config, boolean ema) {
        if (ema && this.ema.isEmpty()) {
            throw new ModelLoadException(file.file() + ": --ema: the file holds no EMA weights (model_ema.*); "
                    + "'-emaonly' and pruned files already hold the EMA weights as the model");
        }
        Map<String, SafeTensors.TensorInfo> out = new LinkedHashMap<>();
        for (Map.Entry<String, SafeTensors.TensorInfo> e : unet.entrySet()) {
            String mapped = CheckpointKeys.unet(e.getKey(), config.layersPerBlock());
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

    /** The VAE under diffusers names (mid-block attention 1x1 convolutions read as linear weights). */
    public TensorFile vae(VaeConfig config) {
        Map<String, SafeTensors.TensorInfo> out = new LinkedHashMap<>();
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
     * The text encoder under transformers' {@code CLIPTextModel} names. For OpenCLIP the stacked
     * q/k/v are split, and the block after the configured {@code num_hidden_layers} (the last block,
     * which SD 2.x skips by conditioning on the penultimate layer) is skipped.
     *
     * @throws ModelLoadException if a stacked {@code in_proj} does not have 3 x D rows
     */
    public TensorFile textEncoder(TextEncoderConfig config) {
        Map<String, SafeTensors.TensorInfo> out = new LinkedHashMap<>();
        String prefix = textEncoderKind == TextEncoderKind.HF_CLIP ? HF_CLIP_PREFIX : OPEN_CLIP_PREFIX;
        for (Map.Entry<String, SafeTensors.TensorInfo> e : clip.entrySet()) {
            SafeTensors.TensorInfo info = e.getValue();
            if (textEncoderKind == TextEncoderKind.HF_CLIP) {
                String n = CheckpointKeys.hfClip(e.getKey());
                out.put(n, ComponentView.renamed(info, n));
                continue;
            }
            CheckpointKeys.ClipMapped[] mapped = CheckpointKeys.openClip(e.getKey());
            if (mapped == null) {
                out.put(prefix + e.getKey(), info);
                continue;
            }
            if (mapped[0].layer() == config.numHiddenLayers()) {
                continue;
            }
            for (CheckpointKeys.ClipMapped m : mapped) {
                if (m.qkvPart() < 0) {
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
        return new ComponentView(file, out);
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
