package dev.tenstep.cli;

import dev.tenstep.batch.BatchRunner;
import dev.tenstep.batch.CaptionsFile;
import dev.tenstep.batch.GenerationOptions;
import dev.tenstep.batch.PromptEntry;
import dev.tenstep.batch.spark.PipelineSource;
import dev.tenstep.batch.spark.SparkBatch;
import dev.tenstep.pipeline.ComputeSpec;
import dev.tenstep.pipeline.GenerationRecord;
import dev.tenstep.pipeline.TextToImage;
import dev.tenstep.sampling.ideal.IdealModels;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code spark-batch}: {@code batch} as an Apache Spark job ({@link SparkBatch}): the same prompt files, options,
 * {@code --compare} variants, seeds, images, manifest and contact sheet, plus COCO captions files, rendered by
 * Spark's executors with one model each. Runs in local mode from {@code ./tenstep spark-batch --master local[N]}
 * and on a cluster through {@code spark-submit --class dev.tenstep.cli.SparkBatchMain} (docs/scale-out.md). This
 * class parses the command line and prints progress; it names no Spark type, so the other commands run without
 * Spark on the class path.
 */
@Command(name = "spark-batch", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Render prompt files and COCO captions as an Apache Spark job: the images, manifest and contact "
                + "sheet of 'batch', made by Spark's executors (one model per executor JVM); resumable, retried tasks "
                + "make no duplicates. Local mode: --master local[N]; clusters: spark-submit (docs/scale-out.md).",
                "The generation options below are the defaults of lines that do not set them; --seed is the seed "
                        + "base, as in 'batch'."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:every image done", "1:a line or image failed (reported as file:line), or I/O error",
                "2:bad command line"})
public final class SparkBatchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--master", paramLabel = "URL",
            description = "Spark master: local[N] (N executor threads in this JVM), local[N,F] (F tries per task), "
                    + "spark://HOST:7077, k8s://... (default: spark-submit's --master, else local[*]).")
    String master;

    @Option(names = "--partitions", paramLabel = "N",
            description = "Split the prompt lines into N partitions (tasks) (default: Spark's default parallelism).")
    int partitions;

    @Option(names = {"-m", "--model"}, paramLabel = "DIR|FILE",
            description = "Diffusers pipeline folder, single-file checkpoint, ideal:shapes or ideal:DIR, at the same "
                    + "path on every executor (default: as for 'batch').")
    Path model;

    @Mixin
    CheckpointOptions checkpoint = new CheckpointOptions();

    @Mixin
    LoraOptions loras = new LoraOptions();

    @Option(names = "--prompts", paramLabel = "FILE", arity = "1..*",
            description = "Prompt files (A1111 'prompts from file' format), rendered in order, read by the driver.")
    List<Path> prompts = new ArrayList<>();

    @Option(names = "--captions", paramLabel = "FILE.json",
            description = "A COCO-style captions file (annotations with image_id and caption), rendered after the "
                    + "prompt files; captions are literal text (plain prompt syntax unless --prompt-syntax is given).")
    Path captions;

    @Option(names = "--captions-per-image", paramLabel = "first|last|all", defaultValue = "first",
            description = "Which captions of each image of --captions: its first, its last or all (default: ${DEFAULT-VALUE}).")
    String captionsPerImage;

    @Option(names = "--limit", paramLabel = "N",
            description = "Render at most the first N captions chosen from --captions (the paper's FID protocol: 30000).")
    Integer limit;

    @Option(names = {"-o", "--output"}, paramLabel = "DIR|URI", required = true,
            description = "Output folder: a path, or a Hadoop URI (hdfs://..., s3a://...): PNGs, manifest.jsonl, index.html.")
    String output;

    @Mixin
    BatchVariantOptions columns = new BatchVariantOptions();

    @Mixin
    GenerationOptions gen = new GenerationOptions();

    @Mixin
    ComputeOptions compute = new ComputeOptions();

    @Option(names = "--threads", converter = ThreadsConverter.class,
            description = "Intra-op CPU threads of each executor's model, at least 1 (default: number of cores).")
    Integer threads;

    @Override
    public Integer call() throws IOException {
        CommandLine cmd = spec.commandLine();
        gen.validate(cmd);
        columns.variants(cmd); // refuses a bad --compare before Spark starts
        if (prompts.isEmpty() && captions == null) {
            throw new CommandLine.ParameterException(cmd, "nothing to render: give --prompts FILE... or --captions FILE");
        }
        for (Path p : prompts) {
            if (!Files.isRegularFile(p)) {
                throw new CommandLine.ParameterException(cmd, "--prompts: no such file: " + p);
            }
        }
        if (captions != null && !Files.isRegularFile(captions)) {
            throw new CommandLine.ParameterException(cmd, "--captions: no such file: " + captions);
        }
        CaptionsFile.PerImage perImage;
        try {
            perImage = CaptionsFile.PerImage.parse(captionsPerImage);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd, "--captions-per-image: " + e.getMessage());
        }
        if (limit != null && limit < 1) {
            throw new CommandLine.ParameterException(cmd, "--limit: must be at least 1, got " + limit);
        }
        if (partitions < 0) {
            throw new CommandLine.ParameterException(cmd, "--partitions: must be at least 1, got " + partitions);
        }
        model = ModelLocator.modelOrDefault(model, cmd.getErr());
        boolean ideal = IdealModels.isIdeal(model.toString());
        if (!ideal) {
            ModelLocator.modelOption(cmd, model); // fail on the driver, before any executor starts
        }
        loras.catalog(cmd, ModelLocator.defaultModelsDir());
        SparkBatch.Settings settings = new SparkBatch.Settings(prompts, captions, perImage, limit, output, gen, columns.compare,
                columns.resume, partitions);
        ModelSource source = new ModelSource(modelWords(ideal), ideal ? model.toString() : model.getFileName().toString());
        BatchRunner.Summary s;
        try {
            s = SparkBatch.submit(master, source, settings, new Progress(cmd.getOut(), cmd.getErr()));
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd, e.getMessage());
        } catch (NoClassDefFoundError e) {
            if (String.valueOf(e.getMessage()).startsWith("org/apache/spark")) {
                cmd.getErr().println("error: Spark is not on the class path: run './tenstep spark-batch ...' (which "
                        + "adds it) or spark-submit (docs/scale-out.md)");
                return 1;
            }
            throw e;
        }
        return s.exitCode();
    }

    /**
     * The model options of this command as words ({@code --name=value}) for the executors: {@code --model} (an
     * absolute path, or the ideal model's name), the checkpoint, LoRA and compute options that have a value, and
     * {@code --threads}. Paths are made absolute: an executor has no working folder of the driver's.
     */
    private ArrayList<String> modelWords(boolean ideal) {
        ArrayList<String> words = new ArrayList<>();
        words.add("--model=" + (ideal ? model.toString() : model.toAbsolutePath().normalize().toString()));
        for (Object mixin : List.of(checkpoint, loras, compute)) {
            for (OptionSpec o : CommandSpec.forAnnotatedObject(mixin).options()) {
                Object v = o.getValue();
                if (v instanceof Boolean b) {
                    if (b) {
                        words.add(o.longestName());
                    }
                } else if (v != null) {
                    words.add(o.longestName() + "=" + (v instanceof Path p ? p.toAbsolutePath().normalize() : v));
                }
            }
        }
        if (threads != null) {
            words.add("--threads=" + threads);
        }
        return words;
    }

    /** The model options as an executor parses them again. */
    @Command(name = "spark-batch-model")
    static final class ModelWords {
        @Option(names = "--model")
        Path model;

        @Mixin
        CheckpointOptions checkpoint = new CheckpointOptions();

        @Mixin
        LoraOptions loras = new LoraOptions();

        @Mixin
        ComputeOptions compute = new ComputeOptions();

        @Option(names = "--threads", converter = ThreadsConverter.class)
        Integer threads;
    }

    /**
     * How an executor opens the model: the driver's model options as words, parsed there by the same mixins and
     * loaded as {@code batch} loads them. A task that Spark gave a GPU runs on it ({@code cuda:ADDRESS}) when
     * {@code --device} is {@code auto} or {@code cuda}.
     */
    static final class ModelSource implements PipelineSource {
        private static final long serialVersionUID = 1L;

        private final ArrayList<String> words;
        private final String name;

        ModelSource(ArrayList<String> words, String name) {
            this.words = words;
            this.name = name;
        }

        @Override
        public String key() {
            return String.join(" ", words);
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public TextToImage open(String gpu) {
            DjlEnvironment.configure();
            ModelWords m = new ModelWords();
            CommandLine cmd = new CommandLine(m);
            cmd.parseArgs(words.toArray(String[]::new));
            String device = m.compute.device == null ? "auto" : m.compute.device.trim();
            if (gpu != null && !IdealModels.isIdeal(m.model.toString())
                    && (device.equalsIgnoreCase("auto") || device.equalsIgnoreCase("cuda"))) {
                m.compute.device = "cuda:" + gpu;
            }
            DjlEnvironment.threads(m.threads);
            ComputeSpec computeSpec = IdealModels.isIdeal(m.model.toString()) ? null : m.compute.resolve(cmd);
            PrintWriter err = new PrintWriter(System.err, true);
            TextToImage p = m.checkpoint.open(cmd, m.model, err, m.compute, computeSpec);
            LoraOptions.attach(p, m.loras.catalog(cmd, ModelLocator.defaultModelsDir()));
            return p;
        }
    }

    /** Progress lines of the driver; the images are reported when the job has ended. */
    static final class Progress implements SparkBatch.Observer {
        private final PrintWriter out;
        private final PrintWriter err;
        private int made;

        Progress(PrintWriter out, PrintWriter err) {
            this.out = out;
            this.err = err;
        }

        @Override
        public void randomSeed(PromptEntry entry, long seed, boolean reused) {
            out.println(entry.location() + ": random seed " + seed + (reused ? " (from the manifest)" : ""));
            out.flush();
        }

        @Override
        public void submitted(int lines, int partitions, long seedBase, String output) {
            out.println("seed base: " + seedBase + "; " + lines + " prompt lines in " + partitions + " partitions -> "
                    + output);
            out.flush();
        }

        @Override
        public void made(GenerationRecord r) {
            made++;
            out.printf("[%d] %s %s seed %d -> %s (%d ms)%n", made, r.source(), r.variant(), r.seed(), r.file(),
                    r.timings().denoiseMs() + r.timings().decodeMs());
            out.flush();
        }

        @Override
        public void failed(BatchRunner.Failure f) {
            err.println("error: " + f.message());
            err.flush();
        }

        @Override
        public void warning(String message) {
            err.println("warning: " + message);
            err.flush();
        }

        @Override
        public void finished(BatchRunner.Summary s) {
            out.println("done: " + s.generated() + " generated, " + s.skipped() + " skipped, "
                    + s.failures().size() + " failed");
            out.flush();
        }
    }
}
