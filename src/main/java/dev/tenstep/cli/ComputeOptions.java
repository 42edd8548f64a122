package dev.tenstep.cli;

import dev.tenstep.pipeline.Accelerators;
import dev.tenstep.pipeline.ComputeSpec;
import dev.tenstep.pipeline.DeviceUnavailableException;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/**
 * {@code --device}, {@code --dtype}, {@code --vae-dtype}: the options of {@code generate}, {@code serve},
 * {@code batch} and {@code bench}, resolved by {@link ComputeSpec#resolve} against the loaded engine.
 */
public final class ComputeOptions {
    @Option(names = "--device", paramLabel = "auto|cpu|cuda|cuda:N", defaultValue = "auto",
            description = "Where to compute: auto = CUDA GPU 0 when DJL's PyTorch engine has CUDA and sees a GPU, else the CPU "
                    + "(default: ${DEFAULT-VALUE}; GPU setup: docs/gpu.md).")
    String device = "auto";

    @Option(names = "--dtype", paramLabel = "auto|fp32|fp16|bf16", defaultValue = "auto",
            description = "Precision of the text encoder and UNet: auto = fp16 on CUDA, fp32 on the CPU; half precision is "
                    + "refused on the CPU, bf16 is refused with DJL 0.36 (default: ${DEFAULT-VALUE}).")
    String dtype = "auto";

    @Option(names = "--vae-dtype", paramLabel = "auto|fp32|fp16|bf16", defaultValue = "auto",
            description = "Precision of the VAE: auto = fp32 when --dtype is half (the SD VAE overflows in fp16), else --dtype "
                    + "(default: ${DEFAULT-VALUE}).")
    String vaeDtype = "auto";

    /**
     * Resolves the options; loads the PyTorch engine (set its thread count first).
     *
     * @throws CommandLine.ParameterException (exit 2) naming the option: a malformed or refused value,
     *                                        or {@code --device cuda} without a usable GPU
     */
    public ComputeSpec resolve(CommandLine cmd) {
        try {
            return ComputeSpec.resolve(device, dtype, vaeDtype, Accelerators.djl());
        } catch (IllegalArgumentException | DeviceUnavailableException e) {
            throw new CommandLine.ParameterException(cmd, e.getMessage());
        }
    }
}
