package dev.tenstep.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.tenstep.model.config.SchedulerConfig;
import dev.tenstep.pipeline.Sd15FolderFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

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
    public static final double BETA_START = Sd15FolderFiles.BETA_START;
    public static final double BETA_END = Sd15FolderFiles.BETA_END;
    public static final int TRAIN_TIMESTEPS = Sd15FolderFiles.TRAIN_TIMESTEPS;

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private PipelineWriter() {
    }

    /** Writes everything but the weights into {@code dir} (created if needed). */
    public static void writeConfigs(Path dir, ModelSizes sizes, double scalingFactor) throws IOException {
        json(dir.resolve("model_index.json"), Sd15FolderFiles.modelIndex());
        json(dir.resolve("scheduler/scheduler_config.json"), Sd15FolderFiles.scheduler());
        json(dir.resolve("text_encoder/config.json"), sizes.textEncoderJson());
        json(dir.resolve("unet/config.json"), sizes.unetJson());
        json(dir.resolve("vae/config.json"), sizes.vaeJson(scalingFactor));
        writeTokenizer(dir.resolve("tokenizer"));
    }

    /** The tokenizer folder: CLIP's vocabulary and merges, SD 1.x's special tokens (pad = end of text). */
    public static void writeTokenizer(Path dir) throws IOException {
        Sd15FolderFiles.writeTokenizer(dir);
    }

    /** The scheduler config the model is trained with (parsed). */
    public static SchedulerConfig schedulerConfig() {
        return new ObjectMapper().convertValue(Sd15FolderFiles.scheduler(), SchedulerConfig.class);
    }

    static void json(Path file, Object value) throws IOException {
        Files.createDirectories(file.getParent());
        dev.tenstep.io.AtomicFiles.write(file, JSON.writeValueAsBytes(value));
    }
}
