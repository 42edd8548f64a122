package dev.tenstep.cli;

import dev.tenstep.model.nn.AttentionSettings;
import dev.tenstep.model.nn.CpuBf16;
import dev.tenstep.pipeline.Accelerators;
import dev.tenstep.pipeline.ComputeSpec;
import dev.tenstep.pipeline.DeviceUnavailableException;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/**
 * {@code --device}, {@code --dtype}, {@code --vae-dtype}: the options of {@code generate}, {@code serve},
 * {@code batch} and {@code bench}, resolved by {@link ComputeSpec#resolve} against the loaded engine;
 * and {@code --attention-slice}/{@code --attention-budget}, how attention is computed
 * ({@link AttentionSettings}).
 */
public final class ComputeOptions {
    @Option(names = "--device", paramLabel = "auto|cpu|cuda|cuda:N", defaultValue = "auto",
            description = "Where to compute: auto = CUDA GPU 0 when DJL's PyTorch engine has CUDA and sees a GPU, else the CPU "
                    + "(default: ${DEFAULT-VALUE}; GPU setup: docs/gpu.md).")
    String device = "auto";

    @Option(names = "--dtype", paramLabel = "auto|fp32|fp16|bf16", defaultValue = "auto",
            description = "Precision of the text encoder and UNet: auto = fp16 on CUDA, fp32 on the CPU; fp16 is refused on "
                    + "the CPU; bf16 needs the DJL JNI built by scripts/build-djl-jni.sh, and on the CPU avx512_bf16 or "
                    + "amx_bf16 (default: ${DEFAULT-VALUE}; docs/gpu.md).")
    String dtype = "auto";

    @Option(names = "--vae-dtype", paramLabel = "auto|fp32|fp16|bf16", defaultValue = "auto",
            description = "Precision of the VAE: auto = fp32 when --dtype is half (the SD VAE overflows in fp16), else --dtype "
                    + "(default: ${DEFAULT-VALUE}).")
    String vaeDtype = "auto";

    @Option(names = "--attention-slice", paramLabel = "fused|auto|off|N",
            description = "Attention: fused (libtorch's tiled kernel, no score matrix), or the score matrix in query slices: "
                    + "auto (from --attention-budget), off (one slice), N query rows per slice; all give the same "
                    + "image (default: fused; auto for bf16 on a CPU without AMX, where the fused bf16 kernel is slow; "
                    + "docs/performance.md).")
    String attentionSlice;

    @Option(names = "--attention-budget", defaultValue = "0", paramLabel = "MiB",
            description = "Memory of one attention score slice for --attention-slice auto (default: 256 MiB).")
    long attentionBudgetMb;

    /**
     * The attention options.
     *
     * @throws CommandLine.ParameterException naming {@code --attention-slice} for a malformed value
     */
    public AttentionSettings attention(CommandLine cmd) {
        try {
            return AttentionSettings.parse(attentionSlice, attentionBudgetMb);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd, e.getMessage());
        }
    }

    /**
     * For a model that computes on the CPU only (the ideal denoisers: small host arrays): with
     * {@code --device} and {@code --dtype} at {@code auto} it runs there; an explicit other device or
     * dtype is refused rather than silently ignored.
     *
     * @throws CommandLine.ParameterException naming the options
     */
    public void requireCpu(CommandLine cmd, String what) {
        boolean explicitDevice = device != null && !device.isBlank() && !device.trim().equalsIgnoreCase("auto")
                && !device.trim().equalsIgnoreCase("cpu");
        boolean explicitDtype = (dtype != null && !dtype.isBlank() && !dtype.trim().equalsIgnoreCase("auto")
                && !dtype.trim().equalsIgnoreCase("fp32"))
                || (vaeDtype != null && !vaeDtype.isBlank() && !vaeDtype.trim().equalsIgnoreCase("auto")
                && !vaeDtype.trim().equalsIgnoreCase("fp32"));
        if (explicitDevice || explicitDtype) {
            throw new CommandLine.ParameterException(cmd, "--device/--dtype: " + what + " computes on the CPU in fp32 only; "
                    + "drop --device/--dtype or pass --device cpu");
        }
    }

    /**
     * Resolves the options, the attention options included ({@link ComputeSpec#attention}; without
     * {@code --attention-slice}, {@link ComputeSpec#defaultAttention}); loads the PyTorch engine (set its thread
     * count first).
     *
     * @throws CommandLine.ParameterException (exit 2) naming the option: a malformed or refused value,
     *                                        or {@code --device cuda} without a usable GPU
     */
    public ComputeSpec resolve(CommandLine cmd) {
        try {
            ComputeSpec s = ComputeSpec.resolve(device, dtype, vaeDtype, Accelerators.djl());
            AttentionSettings a = attention(cmd);
            return s.withAttention(attentionSlice == null ? ComputeSpec.defaultAttention(s, a, CpuBf16.cpuFlags()) : a);
        } catch (IllegalArgumentException | DeviceUnavailableException e) {
            throw new CommandLine.ParameterException(cmd, e.getMessage());
        }
    }
}
