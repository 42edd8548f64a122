package dev.tenstep.pipeline;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.model.RandomWeights;
import dev.tenstep.model.Weights;
import dev.tenstep.model.clip.ClipTextModel;
import dev.tenstep.model.config.Configs;
import dev.tenstep.model.config.TextEncoderConfig;
import dev.tenstep.model.config.UNetConfig;
import dev.tenstep.model.config.VaeConfig;
import dev.tenstep.model.unet.UNet2DConditionModel;
import dev.tenstep.model.vae.AutoencoderKL;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Writes the bundled demo model ({@code make-demo}; loaded by {@link StableDiffusionPipeline#load} like any
 * diffusers folder): a tiny Stable-Diffusion-architecture model in the exact diffusers
 * folder layout ({@code model_index.json}, {@code scheduler/}, {@code text_encoder/},
 * {@code tokenizer/}, {@code unet/}, {@code vae/}) with the real CLIP vocabulary and seeded random
 * weights. It exists so that {@code serve} works on a fresh machine: it shows the machinery
 * (queue, progress, previews, samplers side by side), not pictures.
 *
 * <p>Each network is built from its small config with {@link Weights#random}, and the tensors the
 * modules asked for are written with {@link SafeTensors#write}, so the files hold exactly the
 * names and shapes that {@link StableDiffusionPipeline#load} expects. The same seed gives the same
 * files. Default image: 128 x 128 (latent 32 x 32, VAE scale 4).
 */
public final class DemoModelWriter {
    /** Label shown wherever the demo model is in use. */
    public static final String LABEL = "demo weights: random, shows the machinery, not pictures";
    /** File written into the folder to mark it as the demo (read by the UI). */
    public static final String MARKER = "DEMO_WEIGHTS_ARE_RANDOM.txt";
    public static final long DEFAULT_SEED = 20240601L;

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private DemoModelWriter() {
    }

    /** True when {@code dir} is a demo pipeline written by {@link #create}. */
    public static boolean isDemo(Path dir) {
        return dir != null && Files.isRegularFile(dir.resolve(MARKER));
    }

    /**
     * Writes the demo pipeline to {@code dir} (which must not exist, or be empty). Built in a
     * temporary sibling folder and renamed into place, so a killed process never leaves a
     * half-written pipeline under {@code dir}.
     *
     * @return {@code dir}
     */
    public static Path create(Path dir, long seed) throws IOException {
        Path target = dir.toAbsolutePath().normalize();
        if (Files.isDirectory(target)) {
            try (Stream<Path> s = Files.list(target)) {
                if (s.findAny().isPresent()) {
                    throw new FileAlreadyExistsException(target + " exists and is not empty");
                }
            }
            Files.delete(target);
        }
        Path parent = target.getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempDirectory(parent, "." + target.getFileName() + "-");
        try {
            write(tmp, seed);
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target);
            }
            return dir;
        } finally {
            deleteTree(tmp);
        }
    }

    private static void write(Path dir, long seed) throws IOException {
        json(dir.resolve("model_index.json"), Sd15FolderFiles.modelIndex());
        json(dir.resolve("scheduler/scheduler_config.json"), Sd15FolderFiles.scheduler());
        json(dir.resolve("text_encoder/config.json"), textEncoder());
        json(dir.resolve("unet/config.json"), unet());
        json(dir.resolve("vae/config.json"), vae());
        Sd15FolderFiles.writeTokenizer(dir.resolve("tokenizer"));
        Files.writeString(dir.resolve(MARKER), "This pipeline was written by `tenstep make-demo` (seed " + seed + ").\n"
                + LABEL + ".\nPut a real diffusers Stable Diffusion folder under models/ to make pictures.\n");

        Map<String, String> meta = Map.of("format", "pt", "tenstep", "demo pipeline, seeded random weights, seed " + seed);
        try (NDManager m = NDManager.newBaseManager()) {
            TextEncoderConfig tc = Configs.read(dir.resolve("text_encoder/config.json"), TextEncoderConfig.class);
            RandomWeights wt = Weights.random(m, seed + PipelineAssembler.TEXT_ENCODER_SEED);
            new ClipTextModel(wt, tc);
            SafeTensors.write(dir.resolve("text_encoder/model.safetensors"), wt.created(), meta);

            UNetConfig uc = Configs.read(dir.resolve("unet/config.json"), UNetConfig.class);
            RandomWeights wu = Weights.random(m, seed + PipelineAssembler.UNET_SEED);
            new UNet2DConditionModel(uc, wu);
            SafeTensors.write(dir.resolve("unet/diffusion_pytorch_model.safetensors"), wu.created(), meta);

            VaeConfig vc = Configs.read(dir.resolve("vae/config.json"), VaeConfig.class);
            RandomWeights wv = Weights.random(m, seed + PipelineAssembler.VAE_SEED);
            new AutoencoderKL(wv, vc);
            SafeTensors.write(dir.resolve("vae/diffusion_pytorch_model.safetensors"), wv.created(), meta);
        }
    }

    private static Map<String, Object> textEncoder() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("architectures", List.of("CLIPTextModel"));
        m.put("attention_dropout", 0.0);
        m.put("bos_token_id", 0);
        m.put("dropout", 0.0);
        m.put("eos_token_id", 2);
        m.put("hidden_act", "quick_gelu");
        m.put("hidden_size", 64);
        m.put("initializer_factor", 1.0);
        m.put("initializer_range", 0.02);
        m.put("intermediate_size", 256);
        m.put("layer_norm_eps", 1e-5);
        m.put("max_position_embeddings", 77);
        m.put("model_type", "clip_text_model");
        m.put("num_attention_heads", 4);
        m.put("num_hidden_layers", 2);
        m.put("pad_token_id", 1);
        m.put("projection_dim", 64);
        m.put("torch_dtype", "float32");
        m.put("vocab_size", 49408);
        return m;
    }

    private static Map<String, Object> unet() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("_class_name", "UNet2DConditionModel");
        m.put("_diffusers_version", "0.27.2");
        m.put("act_fn", "silu");
        m.put("attention_head_dim", 4);
        m.put("block_out_channels", List.of(32, 64, 64));
        m.put("center_input_sample", false);
        m.put("cross_attention_dim", 64);
        m.put("down_block_types", List.of("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"));
        m.put("downsample_padding", 1);
        m.put("flip_sin_to_cos", true);
        m.put("freq_shift", 0);
        m.put("in_channels", 4);
        m.put("layers_per_block", 1);
        m.put("mid_block_scale_factor", 1);
        m.put("mid_block_type", "UNetMidBlock2DCrossAttn");
        m.put("norm_eps", 1e-5);
        m.put("norm_num_groups", 16);
        m.put("out_channels", 4);
        m.put("sample_size", 32);
        m.put("up_block_types", List.of("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"));
        m.put("upcast_attention", false);
        m.put("use_linear_projection", false);
        return m;
    }

    private static Map<String, Object> vae() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("_class_name", "AutoencoderKL");
        m.put("_diffusers_version", "0.27.2");
        m.put("act_fn", "silu");
        m.put("block_out_channels", List.of(32, 64, 64));
        m.put("down_block_types", List.of("DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"));
        m.put("in_channels", 3);
        m.put("latent_channels", 4);
        m.put("layers_per_block", 1);
        m.put("norm_num_groups", 16);
        m.put("out_channels", 3);
        m.put("sample_size", 128);
        m.put("scaling_factor", 0.18215);
        m.put("up_block_types", List.of("UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"));
        return m;
    }

    private static void json(Path file, Object value) throws IOException {
        Files.createDirectories(file.getParent());
        JSON.writeValue(file.toFile(), value);
    }

    private static void deleteTree(Path p) {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            s.sorted(Comparator.reverseOrder()).forEach(f -> {
                try {
                    Files.delete(f);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
