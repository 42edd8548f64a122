package dev.tenstep.cli;

import dev.tenstep.pipeline.IdealPipeline;
import dev.tenstep.pipeline.ModelCatalog;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import dev.tenstep.pipeline.TextToImage;
import dev.tenstep.sampling.ideal.IdealModels;

import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Finds pipelines under the {@code models/} folder. Default folders are relative to the
 * installation ({@code -Dtenstep.home}, set by the {@code ./tenstep} launcher), else to the
 * working directory.
 */
public final class ModelLocator {
    private ModelLocator() {
    }

    /** {@code <home>/models}. */
    public static Path defaultModelsDir() {
        return home().resolve("models");
    }

    /** {@code <home>/outputs}. */
    public static Path defaultOutputsDir() {
        return home().resolve("outputs");
    }

    private static Path home() {
        return Path.of(System.getProperty("tenstep.home", "."));
    }

    /**
     * The first real model under {@code modelsDir} by name (a diffusers folder or a single-file
     * checkpoint, as {@code serve} lists them: {@link ModelCatalog#scan}), else the demo pipeline if present.
     */
    public static Optional<Path> defaultModel(Path modelsDir) {
        return firstRealElseDemo(ModelCatalog.scan(modelsDir));
    }

    /** As {@link #defaultModel}, diffusers folders only (for commands that load folders only). */
    public static Optional<Path> defaultFolder(Path modelsDir) {
        return firstRealElseDemo(ModelCatalog.scan(modelsDir).stream().filter(e -> e.kind() == ModelCatalog.Kind.FOLDER).toList());
    }

    private static Optional<Path> firstRealElseDemo(List<ModelCatalog.Entry> entries) {
        return entries.stream().filter(e -> !e.demo()).findFirst().or(() -> entries.stream().findFirst())
                .map(ModelCatalog.Entry::path);
    }

    /**
     * The {@code --model} folder or single-file checkpoint of a command, else the default model under {@code models/}.
     *
     * @throws picocli.CommandLine.ParameterException naming {@code --model} when there is none or
     *                                                the given folder does not exist
     */
    public static Path modelOption(picocli.CommandLine cmd, Path model) {
        if (model != null && !Files.isDirectory(model) && !dev.tenstep.pipeline.SingleFileLoader.isSingleFile(model)) {
            throw new picocli.CommandLine.ParameterException(cmd, "--model: " + (Files.exists(model)
                    ? model + " is neither a diffusers folder nor a .safetensors/.ckpt checkpoint" : "not found: " + model));
        }
        return model != null ? model : defaultModel(defaultModelsDir()).orElseThrow(() ->
                new picocli.CommandLine.ParameterException(cmd, "--model: no model found under " + defaultModelsDir()
                        + "; pass --model DIR|FILE (a diffusers folder or a .safetensors/.ckpt checkpoint), "
                        + "--model ideal:shapes, or run 'make-demo' to create the demo pipeline"));
    }

    /**
     * Opens the {@code --model} of a command: {@code ideal:shapes} / {@code ideal:DIR} as an {@link IdealPipeline},
     * otherwise a diffusers folder ({@link #modelOption}: the default model when null).
     *
     * @throws picocli.CommandLine.ParameterException naming {@code --model} for a missing folder or an invalid
     *                                                ideal data set
     */
    public static TextToImage open(picocli.CommandLine cmd, Path model) {
        if (model != null && IdealModels.isIdeal(model.toString())) {
            return openIdeal(cmd, model.toString());
        }
        return StableDiffusionPipeline.load(modelOption(cmd, model));
    }

    /** {@link IdealPipeline#load}, its errors as {@code --model} parameter errors. */
    public static IdealPipeline openIdeal(picocli.CommandLine cmd, String model) {
        try {
            return IdealPipeline.load(model);
        } catch (IllegalArgumentException | UncheckedIOException e) {
            throw new picocli.CommandLine.ParameterException(cmd, "--model: " + e.getMessage());
        }
    }
}
