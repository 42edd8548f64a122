package dev.tenstep.cli;

import dev.tenstep.pipeline.ComputeSpec;
import dev.tenstep.pipeline.FixtureParity;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code check-device}: runs the reference pipeline case of golden fixture folders on a device and
 * precision and compares with the reference ({@link FixtureParity}): proves that a GPU setup
 * computes what the CPU computes. Exit 0 when every tensor is within tolerance, 1 otherwise.
 */
@Command(name = "check-device", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Reproduce the pipeline_ddim case of golden fixture folders (tiny-sd15, tiny-sd21, tiny-sdxl) on "
                + "--device/--dtype and compare with the reference (prompt embeddings, final latents, decoded image).",
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:every tensor within tolerance", "1:a tensor out of tolerance, or I/O error", "2:bad command line"})
public final class CheckDeviceCommand implements Callable<Integer> {
    /** The default multiple of the fixtures' fp32 tolerance under half precision (measured: docs/gpu.md). */
    public static final double HALF_TOLERANCE_SCALE = 100;
    /**
     * The default multiple under bf16 (text encoder and UNet, or the VAE): bf16 keeps 8 significant bits against
     * fp16's 11; measured at most 351x on the CPU (docs/gpu.md "Precision figures"), twice that accepted.
     */
    public static final double BF16_TOLERANCE_SCALE = 700;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--fixture", paramLabel = "DIR", required = true, arity = "1..*",
            description = "Golden fixture folders (a tiny diffusers pipeline with reference/cases.json).")
    List<Path> fixtures;

    @Mixin
    ComputeOptions compute = new ComputeOptions();

    @Option(names = "--tolerance-scale", paramLabel = "X",
            description = "Multiply the fixtures' tolerances by X (default: 1 in fp32, " + HALF_TOLERANCE_SCALE + " in fp16, "
                    + BF16_TOLERANCE_SCALE + " in bf16).")
    Double toleranceScale;

    @Override
    public Integer call() throws IOException {
        CommandLine cmd = spec.commandLine();
        ComputeSpec device = compute.resolve(cmd);
        boolean bf16 = device.dtype() == ComputeSpec.Precision.BF16 || device.vaeDtype() == ComputeSpec.Precision.BF16;
        double scale = toleranceScale != null ? toleranceScale
                : bf16 ? BF16_TOLERANCE_SCALE : device.dtype().isHalf() ? HALF_TOLERANCE_SCALE : 1;
        if (!(scale > 0)) {
            throw new CommandLine.ParameterException(cmd, "--tolerance-scale must be positive, got " + scale);
        }
        PrintWriter out = cmd.getOut();
        boolean ok = true;
        // the attention path under test (--attention-slice, in device): the fused kernel by default
        for (Path f : fixtures) {
            long t0 = System.nanoTime();
            List<FixtureParity.Comparison> c = FixtureParity.pipelineDdim(f, device, scale);
            for (FixtureParity.Comparison x : c) {
                out.println(f.getFileName() + " " + device.label() + " " + x);
                ok &= x.passed();
            }
            out.printf("%s %s: %d ms%n", f.getFileName(), device.label(), (System.nanoTime() - t0) / 1_000_000);
            out.flush();
        }
        out.println(ok ? "check-device: all within tolerance (x" + scale + ")" : "check-device: FAILED");
        return ok ? 0 : 1;
    }
}
