package dev.tenstep.cli;

import dev.tenstep.io.ModelHash;
import dev.tenstep.pipeline.SingleFileLoader;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * The options of commands that load a model and accept single-file checkpoints
 * ({@code --config}, {@code --vae}, {@code --ema}, {@code --prediction-type}), and the load itself:
 * a diffusers folder or a single {@code .safetensors}/{@code .ckpt} file.
 */
public final class CheckpointOptions {
    @Option(names = "--config", paramLabel = "DIR",
            description = "For a single-file checkpoint whose shapes match no SD release: a folder with the unet/, vae/, "
                    + "text_encoder/, scheduler/ and tokenizer/ config files of the model.")
    Path config;

    @Option(names = "--vae", paramLabel = "FILE|DIR",
            description = "Replace the checkpoint's VAE: a single-file VAE (*.vae.safetensors, .ckpt) or a diffusers vae/ folder.")
    Path vae;

    @Option(names = "--ema", description = "Use the EMA UNet weights (model_ema.*) of a checkpoint that holds both.")
    boolean ema;

    @Option(names = "--prediction-type", paramLabel = "TYPE",
            description = "Override the model's prediction type: epsilon or v_prediction.")
    String predictionType;

    /**
     * Loads {@code model}; for a single file, also its A1111 model hash (SHA-256, cached beside the
     * file; a progress line on {@code err} while a large file is hashed).
     *
     * @throws CommandLine.ParameterException naming the option at fault
     */
    StableDiffusionPipeline load(CommandLine cmd, Path model, PrintWriter err) {
        return load(cmd, model, err, dev.tenstep.pipeline.ComputeSpec.CPU);
    }

    /**
     * As {@link #load(CommandLine, Path, PrintWriter)}, on {@code compute}'s device and in its
     * dtypes (folders and single files alike).
     */
    StableDiffusionPipeline load(CommandLine cmd, Path model, PrintWriter err, dev.tenstep.pipeline.ComputeSpec compute) {
        if (predictionType != null && !predictionType.equals("epsilon") && !predictionType.equals("v_prediction")) {
            throw new CommandLine.ParameterException(cmd, "--prediction-type: '" + predictionType + "' is not epsilon or v_prediction");
        }
        if (!SingleFileLoader.isSingleFile(model)) {
            if (config != null || vae != null || ema || predictionType != null) {
                throw new CommandLine.ParameterException(cmd, "--config, --vae, --ema and --prediction-type apply to "
                        + "single-file checkpoints (.safetensors, .ckpt); " + model + " is a diffusers folder");
            }
            return StableDiffusionPipeline.load(model, compute);
        }
        StableDiffusionPipeline p = SingleFileLoader.load(model, new SingleFileLoader.Options(config, vae, ema, predictionType),
                compute);
        try {
            p.setModelHash(ModelHash.shortHash(ModelHash.sha256(model, line -> {
                err.println(line);
                err.flush();
            })));
        } catch (IOException e) {
            p.close();
            throw new UncheckedIOException(e);
        }
        return p;
    }

    /**
     * Opens a command's {@code --model}: {@code ideal:shapes} / {@code ideal:DIR} (which compute on the CPU:
     * an explicit other {@code --device}/{@code --dtype} is refused), else a diffusers folder or single file
     * ({@link #load}; the default model under {@code models/} when {@code model} is null).
     *
     * @throws CommandLine.ParameterException naming the option at fault
     */
    dev.tenstep.pipeline.TextToImage open(CommandLine cmd, Path model, PrintWriter err, ComputeOptions computeOptions,
                                          dev.tenstep.pipeline.ComputeSpec compute) {
        if (model != null && dev.tenstep.sampling.ideal.IdealModels.isIdeal(model.toString())) {
            if (config != null || vae != null || ema || predictionType != null) {
                throw new CommandLine.ParameterException(cmd, "--config, --vae, --ema and --prediction-type apply to "
                        + "single-file checkpoints, not to " + model);
            }
            computeOptions.requireCpu(cmd, model.toString());
            return ModelLocator.openIdeal(cmd, model.toString());
        }
        return load(cmd, ModelLocator.modelOption(cmd, model), err, compute);
    }
}
