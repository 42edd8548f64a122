package dev.tenstep.cli;

import dev.tenstep.batch.GenerationOptions;
import dev.tenstep.batch.BatchRunner;
import dev.tenstep.pipeline.GenerationRecord;
import dev.tenstep.batch.Variant;
import dev.tenstep.pipeline.TextToImage;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code batch}: renders prompt files (A1111 "prompts from file" format) into a folder of PNGs, a
 * {@code manifest.jsonl} and an {@code index.html} contact sheet; resumable. The work is done by
 * {@link BatchRunner}; this class only parses the command line and shows progress.
 */
@Command(name = "batch", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Render prompt files: one image per prompt line and sampler, with a manifest and a contact sheet.",
                "Prompt file lines: a prompt, or options such as --prompt \"...\" --steps 10 --seed 5 "
                        + "(shell quoting; A1111 snake_case names accepted); '#' comments and blank lines are skipped.",
                "The generation options below are the defaults of lines that do not set them; --seed is the seed base: "
                        + "line i (0-based, over all files) gets base + i unless it sets its own; "
                        + "a negative --seed on a line means random (printed, recorded, reused by --resume)."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:every image done", "1:a line or image failed (reported as file:line), or I/O error",
                "2:bad command line"})
public final class BatchCommand implements Callable<Integer> {
    @Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = {"-m", "--model"}, paramLabel = "DIR|FILE",
            description = "Diffusers pipeline folder, single-file checkpoint (.safetensors, .ckpt), ideal:shapes or "
                    + "ideal:DIR (default: the first model under models/, folders and single files by name, the demo last).")
    Path model;

    @CommandLine.Mixin
    CheckpointOptions checkpoint = new CheckpointOptions();

    @CommandLine.Mixin
    LoraOptions loras = new LoraOptions();

    @Option(names = "--prompts", paramLabel = "FILE", arity = "1..*", required = true,
            description = "Prompt files, rendered in order.")
    List<Path> prompts;

    @Option(names = {"-o", "--output"}, paramLabel = "DIR", required = true,
            description = "Output folder: PNGs, manifest.jsonl, index.html.")
    Path output;

    @Mixin
    BatchVariantOptions columns = new BatchVariantOptions();

    @Mixin
    GenerationOptions gen = new GenerationOptions();

    @Mixin
    ComputeOptions compute = new ComputeOptions();

    @Option(names = "--threads", converter = ThreadsConverter.class,
            description = "Intra-op CPU threads, at least 1 (default: number of cores).")
    Integer threads;

    @Option(names = "--no-progress", description = "Plain log lines instead of a progress bar "
            + "(the default when standard error is not a terminal).")
    boolean noProgress;

    @Override
    public Integer call() throws IOException {
        CommandLine cmd = spec.commandLine();
        gen.validate(cmd);
        List<Variant> variants = columns.variants(cmd);
        for (Path p : prompts) {
            if (!Files.isRegularFile(p)) {
                throw new CommandLine.ParameterException(cmd, "--prompts: no such file: " + p);
            }
        }
        model = ModelLocator.modelOrDefault(model, cmd.getErr());
        if (!dev.tenstep.sampling.ideal.IdealModels.isIdeal(model.toString())) {
            ModelLocator.modelOption(cmd, model); // fail before loading
        }
        DjlEnvironment.threads(threads);
        dev.tenstep.pipeline.ComputeSpec spec = compute.resolve(cmd);
        BatchRunner.Settings settings = new BatchRunner.Settings(prompts, output, gen, variants, columns.resume);
        boolean bar = !noProgress && Terminals.stderrIsTerminal();
        dev.tenstep.pipeline.LoraCatalog loraCatalog = loras.catalog(cmd, ModelLocator.defaultModelsDir());
        try (TextToImage pipeline = checkpoint.open(cmd, model, cmd.getErr(), compute, spec);
             Progress progress = new Progress(cmd.getOut(), cmd.getErr(), bar)) {
            LoraOptions.attach(pipeline, loraCatalog);
            BatchRunner.Summary s;
            try {
                s = new BatchRunner(pipeline, settings, progress).run();
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(cmd, e.getMessage());
            }
            return s.exitCode();
        }
    }

    /**
     * A progress bar with ETA over all images on a terminal, plain log lines otherwise (never carriage
     * returns when standard error is redirected).
     */
    static final class Progress implements BatchRunner.Observer, AutoCloseable {
        private final PrintWriter out;
        private final PrintWriter err;
        private final boolean useBar;
        private ProgressBar bar;
        private int total;
        private int done;

        Progress(PrintWriter out, PrintWriter err, boolean useBar) {
            this.out = out;
            this.err = err;
            this.useBar = useBar;
        }

        @Override
        public void started(int total, int done, long seedBase) {
            this.total = total;
            this.done = done;
            out.println("seed base: " + seedBase + "; " + total + " images, " + done + " already done");
            out.flush();
            if (useBar && total > done) {
                bar = new ProgressBarBuilder().setTaskName("batch").setInitialMax(total)
                        .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(200).continuousUpdate()
                        .startsFrom(done, Duration.ZERO).build();
            }
        }

        @Override
        public void randomSeed(dev.tenstep.batch.PromptEntry entry, long seed, boolean reused) {
            out.println(entry.location() + ": random seed " + seed + (reused ? " (from the manifest)" : ""));
            out.flush();
        }

        @Override
        public void step(BatchRunner.Job job, dev.tenstep.pipeline.StepProgress p) {
            if (bar != null) {
                bar.setExtraMessage(job.variant().label() + " step " + p.step() + "/" + p.total());
            }
        }

        @Override
        public void recorded(BatchRunner.Job job, GenerationRecord r) {
            done++;
            if (bar != null) {
                bar.stepTo(done);
            } else {
                out.printf("[%d/%d] %s %s seed %d -> %s (%d ms)%n", done, total, r.source(), r.variant(), r.seed(),
                        r.file(), r.timings().denoiseMs() + r.timings().decodeMs());
                out.flush();
            }
        }

        @Override
        public void failed(BatchRunner.Failure f) {
            line(err, "error: " + f.message());
        }

        @Override
        public void warning(String message) {
            line(err, "warning: " + message);
        }

        @Override
        public void finished(BatchRunner.Summary s) {
            close();
            out.println("done: " + s.generated() + " generated, " + s.skipped() + " skipped, "
                    + s.failures().size() + " failed");
            out.flush();
            if (!s.failures().isEmpty()) {
                err.println("failed:");
                s.failures().forEach(f -> err.println("  " + f.message()));
                err.flush();
            }
        }

        private void line(PrintWriter w, String text) {
            if (bar != null) {
                System.err.print("\r");
            }
            w.println(text);
            w.flush();
        }

        @Override
        public void close() {
            if (bar != null) {
                bar.close();
                bar = null;
            }
        }
    }

}
