package dev.tenstep.cli;

import dev.tenstep.bench.Bench;
import dev.tenstep.bench.BenchOptions;
import dev.tenstep.bench.BenchResult;
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

    @CommandLine.Mixin
    ComputeOptions compute = new ComputeOptions();

    @Option(names = "--strength", paramLabel = "S",
            description = "img2img at denoising strength S from a synthetic init image (a smooth gradient) of the size: "
                    + "VAE encode plus int(steps x S) steps (default: text-to-image)")
    Double strength;

    @Option(names = "--json", description = "print one JSON object instead of the table")
    boolean json;

    @Option(names = "--profile", description = "time per module type (resnet, attention, conv, norm, ...)")
    boolean profile;

    @Option(names = "--lora-rank", paramLabel = "R",
            description = "instead: measure switching a random rank-R kohya LoRA on the loaded model (base -> LoRA, "
                    + "other multiplier, back to base; --repeat cycles after one warm-up; --steps > 0 adds a generation "
                    + "with and without it). See docs/prompts.md.")
    Integer loraRank;

    @Option(names = "--seed", defaultValue = "42", description = "generation and random-weight seed (default: ${DEFAULT-VALUE})")
    long seed;

    public BenchCommand() {
    }

    @Override
    public Integer call() {
        PrintWriter out = spec != null ? spec.commandLine().getOut() : new PrintWriter(System.out, true);
        PrintWriter err = spec != null ? spec.commandLine().getErr() : new PrintWriter(System.err, true);
        // the thread count must be set before the engine loads, which resolving the device does
        Bench.configureThreads(threads == null ? 0 : threads);
        dev.tenstep.pipeline.ComputeSpec device = spec != null ? compute.resolve(spec.commandLine())
                : dev.tenstep.pipeline.ComputeSpec.CPU;
        // the attention resolved with the device (its default depends on the dtype and the CPU)
        dev.tenstep.model.nn.AttentionSettings attention = device.attention();
        if (loraRank != null) {
            out.print(new dev.tenstep.bench.LoraSwitchBench(model, randomWeights, loraRank, repeat, width, height, steps,
                    seed, device.withAttention(attention), err).run());
            out.flush();
            return 0;
        }
        BenchOptions o = new BenchOptions(model, randomWeights, width, height, steps, cfgScale, warmup,
                repeat, threads == null ? 0 : threads, attention, profile, seed, device, strength);
        BenchResult r = new Bench(o, err).run();
        out.print(json ? r.toJson() + System.lineSeparator() : r.toTable());
        out.flush();
        return 0;
    }
}
