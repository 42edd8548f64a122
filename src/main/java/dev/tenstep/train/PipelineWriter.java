package dev.tenstep.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.tenstep.model.config.SchedulerConfig;
import dev.tenstep.pipeline.PipelineAssembler;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a trained pipeline in the diffusers folder layout that {@link PipelineAssembler#load} reads:
 * {@code model_index.json}, {@code scheduler/scheduler_config.json} (SD's scaled-linear schedule, the
 * one the model was trained on), {@code text_encoder/}, {@code tokenizer/} (the bundled CLIP vocabulary),
 * {@code unet/}, {@code vae/} with their config.json files; the weight files are written by the caller
 * ({@link Parameters#write}) under {@link #TEXT_ENCODER_WEIGHTS}, {@link #UNET_WEIGHTS}, {@link #VAE_WEIGHTS}.
 */
public final class PipelineWriter {
    public static final String TEXT_ENCODER_WEIGHTS = "text_encoder/model.safetensors";
    public static final String UNET_WEIGHTS = "unet/diffusion_pytorch_model.safetensors";
    public static final String VAE_WEIGHTS = "vae/diffusion_pytorch_model.safetensors";
    /** SD 1.x's noise schedule: scaled-linear betas 0.00085 .. 0.012 over 1000 steps, epsilon prediction. */
    public static final double BETA_START = 0.00085;
    public static final double BETA_END = 0.012;
    public static final int TRAIN_TIMESTEPS = 1000;

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private PipelineWriter() {
    }

    /** Writes everything but the weights into {@code dir} (created if needed). */
    public static void writeConfigs(Path dir, ModelSizes sizes, double scalingFactor) throws IOException {
        json(dir.resolve("model_index.json"), modelIndex());
        json(dir.resolve("scheduler/scheduler_config.json"), scheduler());
        json(dir.resolve("text_encoder/config.json"), sizes.textEncoderJson());
        json(dir.resolve("unet/config.json"), sizes.unetJson());
        json(dir.resolve("vae/config.json"), sizes.vaeJson(scalingFactor));
        writeTokenizer(dir.resolve("tokenizer"));
    }

    /** The tokenizer folder: CLIP's vocabulary and merges, SD 1.x's special tokens (pad = end of text). */
    public static void writeTokenizer(Path dir) throws IOException {
        json(dir.resolve("special_tokens_map.json"), specialTokens());
        json(dir.resolve("tokenizer_config.json"), tokenizerConfig());
        PipelineAssembler.copyBundledVocabulary(dir);
    }

    /** The scheduler config the model is trained with (parsed). */
    public static SchedulerConfig schedulerConfig() {
        return new ObjectMapper().convertValue(scheduler(), SchedulerConfig.class);
    }

    private static Map<String, Object> modelIndex() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("_class_name", "StableDiffusionPipeline");
        m.put("_diffusers_version", "0.27.2");
        m.put("feature_extractor", Arrays.asList(null, null));
        m.put("requires_safety_checker", false);
        m.put("safety_checker", Arrays.asList(null, null));
        m.put("scheduler", List.of("diffusers", "PNDMScheduler"));
        m.put("text_encoder", List.of("transformers", "CLIPTextModel"));
        m.put("tokenizer", List.of("transformers", "CLIPTokenizer"));
        m.put("unet", List.of("diffusers", "UNet2DConditionModel"));
        m.put("vae", List.of("diffusers", "AutoencoderKL"));
        return m;
    }

    private static Map<String, Object> scheduler() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("_class_name", "PNDMScheduler");
        m.put("_diffusers_version", "0.27.2");
        m.put("beta_end", BETA_END);
        m.put("beta_schedule", "scaled_linear");
        m.put("beta_start", BETA_START);
        m.put("clip_sample", false);
        m.put("num_train_timesteps", TRAIN_TIMESTEPS);
        m.put("prediction_type", "epsilon");
        m.put("set_alpha_to_one", false);
        m.put("skip_prk_steps", true);
        m.put("steps_offset", 1);
        m.put("trained_betas", null);
        return m;
    }

    private static Map<String, Object> addedToken(String content) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("content", content);
        m.put("lstrip", false);
        m.put("normalized", true);
        m.put("rstrip", false);
        m.put("single_word", false);
        return m;
    }

    private static Map<String, Object> specialTokens() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("bos_token", addedToken("<|startoftext|>"));
        m.put("eos_token", addedToken("<|endoftext|>"));
        m.put("pad_token", "<|endoftext|>");
        m.put("unk_token", addedToken("<|endoftext|>"));
        return m;
    }

    private static Map<String, Object> tokenizerConfig() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("add_prefix_space", false);
        m.put("bos_token", typed(addedToken("<|startoftext|>")));
        m.put("do_lower_case", true);
        m.put("eos_token", typed(addedToken("<|endoftext|>")));
        m.put("errors", "replace");
        m.put("model_max_length", 77);
        m.put("pad_token", "<|endoftext|>");
        m.put("tokenizer_class", "CLIPTokenizer");
        m.put("unk_token", typed(addedToken("<|endoftext|>")));
        return m;
    }

    private static Map<String, Object> typed(Map<String, Object> token) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("__type", "AddedToken");
        m.putAll(token);
        return m;
    }

    static void json(Path file, Object value) throws IOException {
        Files.createDirectories(file.getParent());
        dev.tenstep.io.AtomicFiles.write(file, JSON.writeValueAsBytes(value));
    }
}
