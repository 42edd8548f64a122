package dev.tenstep.cli;

import dev.tenstep.bench.Bench;
import dev.tenstep.bench.BenchOptions;
import dev.tenstep.bench.BenchResult;
import dev.tenstep.model.nn.CpuBf16;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code bench}: measures load, text encoder, UNet step, VAE decode, whole pipeline, peak RSS (see docs/performance.md). */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure model load, text encoder, UNet step (CFG batch 2), VAE decode and whole-pipeline time, "
                + "peak resident memory and JVM heap. See docs/performance.md.")
public final class BenchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "diffusers pipeline folder")
    Path model;

    @Option(names = "--random-weights", description = "read only the config.json files and use seeded random weights")
    boolean randomWeights;

    @Option(names = "--width", description = "image width (default: the model's)")
    Integer width;

    @Option(names = "--height", description = "image height (default: the model's)")
    Integer height;

    @Option(names = "--steps", defaultValue = "2", description = "denoising steps (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--cfg-scale", defaultValue = "7.5", description = "guidance scale; > 1 runs the UNet on batch 2 (default: ${DEFAULT-VALUE})")
    double cfgScale;

    @Option(names = "--warmup", defaultValue = "0", description = "unmeasured generations first (default: ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--repeat", defaultValue = "1", description = "measured generations (default: ${DEFAULT-VALUE})")
    int repeat;

    @Option(names = "--threads", converter = ThreadsConverter.class,
            description = "intra-op threads, at least 1 (default: the machine's cores)")
    Integer threads;

    @Option(names = "--attention-slice", defaultValue = "fused", paramLabel = "fused|auto|off|N",
            description = "attention: fused (libtorch's tiled kernel, no score matrix), or the score matrix in query slices: "
                    + "auto (from --attention-budget), off (one slice), N query rows per slice (default: ${DEFAULT-VALUE})")
    String attentionSlice;

    @Option(names = "--attention-budget", defaultValue = "0", paramLabel = "MiB",
            description = "memory budget of one attention score slice for --attention-slice auto (default: 256 MiB)")
    long attentionBudgetMb;

    @Option(names = "--dtype", defaultValue = "fp32", paramLabel = "fp32|bf16|fp16",
            description = "compute dtype; only fp32 runs on the CPU: bf16 and fp16 are refused with the reason "
                    + "(default: ${DEFAULT-VALUE})")
    String dtype;

    @Option(names = "--json", description = "print one JSON object instead of the table")
    boolean json;

    @Option(names = "--profile", description = "time per module type (resnet, attention, conv, norm, ...)")
    boolean profile;

    @Option(names = "--seed", defaultValue = "42", description = "generation and random-weight seed (default: ${DEFAULT-VALUE})")
    long seed;

    public BenchCommand() {
    }

    @Override
    public Integer call() {
        PrintWriter out = spec != null ? spec.commandLine().getOut() : new PrintWriter(System.out, true);
        PrintWriter err = spec != null ? spec.commandLine().getErr() : new PrintWriter(System.err, true);
        checkDtype();
        BenchOptions o = new BenchOptions(model, randomWeights, width, height, steps, cfgScale, warmup,
                repeat, threads == null ? 0 : threads, attentionSlice, attentionBudgetMb, profile, seed);
        BenchResult r = new Bench(o, err).run();
        out.print(json ? r.toJson() + System.lineSeparator() : r.toTable());
        out.flush();
        return 0;
    }

    /** fp32 is the CPU's dtype; bf16 and fp16 are refused with the reason (docs/performance.md, "bf16 on the CPU"). */
    private void checkDtype() {
        String d = dtype == null ? "fp32" : dtype.trim().toLowerCase(java.util.Locale.ROOT);
        String problem = switch (d) {
            case "fp32", "float32" -> null;
            case "bf16", "bfloat16" -> "--dtype bf16: " + CpuBf16.refusal(CpuBf16.cpuFlags());
            case "fp16", "float16" -> "--dtype fp16: fp16 on the CPU is refused: libtorch has no fast fp16 CPU kernels "
                    + "(~250x slower than fp32); use fp32";
            default -> "--dtype must be fp32, bf16 or fp16, got " + dtype;
        };
        if (problem != null) {
            throw new CommandLine.ParameterException(spec != null ? spec.commandLine() : new CommandLine(this), problem);
        }
    }
}
