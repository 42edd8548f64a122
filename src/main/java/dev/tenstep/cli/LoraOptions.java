package dev.tenstep.cli;

import dev.tenstep.pipeline.LoraCatalog;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import dev.tenstep.pipeline.TextToImage;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code --lora-dir}: the folder whose {@code .safetensors} files {@code <lora:NAME:MULTIPLIER>} in a prompt names
 * (default {@code models/Lora}, AUTOMATIC1111's folder, under the models folder). Shared by {@code generate},
 * {@code batch} and {@code serve}.
 */
public final class LoraOptions {
    /** The LoRA folder's name under the models folder, as AUTOMATIC1111 names it. */
    public static final String FOLDER = "Lora";

    @Option(names = "--lora-dir", paramLabel = "DIR",
            description = "Folder of LoRA files (.safetensors, kohya or PEFT) that <lora:NAME:WEIGHT> in a prompt names "
                    + "(default: models/Lora, AUTOMATIC1111's folder; subfolders included).")
    Path loraDir;

    /**
     * The catalog of {@code --lora-dir}, else of {@code modelsDir/Lora} (which need not exist: then it is empty).
     *
     * @throws CommandLine.ParameterException if {@code --lora-dir} is given and is not a folder
     */
    LoraCatalog catalog(CommandLine cmd, Path modelsDir) {
        if (loraDir != null && !Files.isDirectory(loraDir)) {
            throw new CommandLine.ParameterException(cmd, "--lora-dir: " + loraDir + " is not a folder");
        }
        return new LoraCatalog(loraDir != null ? loraDir : modelsDir.resolve(FOLDER));
    }

    /** Gives a Stable Diffusion model the LoRA folder (other models have no weights a LoRA changes). */
    static void attach(TextToImage model, LoraCatalog catalog) {
        if (model instanceof StableDiffusionPipeline sd) {
            sd.setLoraCatalog(catalog);
        }
    }
}
