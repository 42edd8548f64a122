package dev.tenstep.pipeline;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.tenstep.io.AtomicFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The files of {@code runwayml/stable-diffusion-v1-5}'s diffusers folder that every SD 1.x-style folder the
 * project writes itself (the demo pipeline, a trained model) shares: {@code model_index.json}, the
 * {@code PNDMScheduler} config of SD's scaled-linear training schedule (betas 0.00085 to 0.012, 1000 steps,
 * epsilon prediction, {@code steps_offset} 1), and the {@code tokenizer/} folder (the bundled OpenAI CLIP
 * {@code vocab.json} and {@code merges.txt}, pad = {@code <|endoftext|>}, 77 tokens, lower case).
 */
public final class Sd15FolderFiles {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private Sd15FolderFiles() {
    }

    /** SD's training schedule: first beta. */
    public static final double BETA_START = 0.00085;
    /** SD's training schedule: last beta. */
    public static final double BETA_END = 0.012;
    /** SD's training schedule: number of timesteps. */
    public static final int TRAIN_TIMESTEPS = 1000;

    /** SD 1.5's {@code model_index.json} (no safety checker, no feature extractor). */
    public static Map<String, Object> modelIndex() {
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

    /** SD 1.5's {@code scheduler/scheduler_config.json} (the noise schedule the samplers work in). */
    public static Map<String, Object> scheduler() {
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

    /**
     * Writes the tokenizer folder's four files into {@code dir} (created when absent), each atomically.
     *
     * @throws IOException if a file cannot be written or the vocabulary resource is missing from the build
     */
    public static void writeTokenizer(Path dir) throws IOException {
        Files.createDirectories(dir);
        AtomicFiles.write(dir.resolve("special_tokens_map.json"), JSON.writeValueAsBytes(specialTokens()));
        AtomicFiles.write(dir.resolve("tokenizer_config.json"), JSON.writeValueAsBytes(tokenizerConfig()));
        PipelineAssembler.copyBundledVocabulary(dir);
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
}
