package dev.tenstep.batch.spark;

import com.fasterxml.jackson.core.JsonProcessingException;
import dev.tenstep.batch.BatchRunner;
import dev.tenstep.batch.CaptionsFile;
import dev.tenstep.batch.ContactSheet;
import dev.tenstep.batch.GenerationOptions;
import dev.tenstep.batch.Manifest;
import dev.tenstep.batch.PromptEntry;
import dev.tenstep.batch.PromptFile;
import dev.tenstep.batch.Variant;
import dev.tenstep.pipeline.GenerationRecord;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import scala.Tuple2;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * A batch as a Spark job: the driver side. Reads the prompt files and captions file (on the driver's file system),
 * chooses each line's seed as {@code batch} does (seed base + index, the line's own, or a random one drawn once),
 * and sends the valid lines as a dataset of {@link LineTask}s over the executors ({@link RenderLines}: one model
 * per executor JVM). When every task has ended it writes, once, {@code manifest.jsonl} (one record per image,
 * ordered by prompt index and then variant) and the {@code index.html} contact sheet of {@code batch}, into the
 * output folder on any Hadoop-compatible file system ({@link OutputFiles}).
 *
 * <p>Nothing lost, nothing twice: an image's name and record key depend only on its input file's name, line and
 * variant ({@link BatchRunner#slots}), so a retried or speculative task writes the same file (atomically, the same
 * bytes); a re-run skips the images whose latest record describes the same generation and whose file is intact
 * ({@link BatchRunner#isDone}, checked on the executors). Records of earlier runs for cells not in this run are
 * kept after this run's. A driver that dies before the end writes no manifest: the next run redoes the images of
 * the lost records (same bytes).
 */
public final class SparkBatch {
    /**
     * What to run.
     *
     * @param promptFiles the prompt files, in order (may be empty when {@code captions} is set)
     * @param captions    a COCO-style captions file, rendered after the prompt files, or null
     * @param perImage    which captions of each image ({@code --captions-per-image})
     * @param limit       at most this many captions (null: all)
     * @param output      the output folder: a path or a Hadoop URI ({@code hdfs://...})
     * @param defaults    the generation options of lines that do not set them; {@code seed} is the seed base
     * @param compare     the {@code --compare} variants ({@link Variant#parseList}), or null for each line's own
     * @param resume      skip the images already done (else start the manifest over)
     * @param partitions  how many partitions the lines are split into; 0 = Spark's default parallelism
     */
    public record Settings(List<Path> promptFiles, Path captions, CaptionsFile.PerImage perImage, Integer limit,
                           String output, GenerationOptions defaults, String compare, boolean resume, int partitions) {
        public Settings {
            promptFiles = List.copyOf(promptFiles);
            Objects.requireNonNull(output);
            Objects.requireNonNull(defaults);
        }
    }

    /**
     * Progress of the driver: {@link BatchRunner.Observer#randomSeed} while planning, {@link #submitted}, then when
     * the job has ended {@link BatchRunner.Observer#warning}, {@link BatchRunner.Observer#failed}, {@link #made} and
     * {@link BatchRunner.Observer#finished}; the per-step and per-file hooks of {@code batch} are not called (the
     * work happens on the executors).
     */
    public interface Observer extends BatchRunner.Observer {
        /** The job is submitted: {@code lines} valid prompt lines in {@code partitions} partitions. */
        default void submitted(int lines, int partitions, long seedBase, String output) {
        }

        /** An image made by this run, reported when the job has ended, in prompt order. */
        default void made(GenerationRecord record) {
        }
    }

    private final JavaSparkContext spark;
    private final PipelineSource source;
    private final Settings settings;
    private final Observer observer;

    public SparkBatch(JavaSparkContext spark, PipelineSource source, Settings settings, Observer observer) {
        this.spark = Objects.requireNonNull(spark);
        this.source = Objects.requireNonNull(source);
        this.settings = Objects.requireNonNull(settings);
        this.observer = observer == null ? new Observer() {
        } : observer;
    }

    /**
     * Starts a Spark context, runs a batch in it and stops it. The master is {@code master} when given, else
     * {@code spark.master} as {@code spark-submit} sets it, else {@code local[*]}. In local mode (the driver's JVM
     * is the executor) the web UI is off and the driver binds to the loopback address unless the configuration says
     * otherwise, and the models are closed at the end.
     *
     * @param master a Spark master URL ({@code local[2]}, {@code spark://host:7077}, {@code k8s://...}), or null
     * @throws IOException also when the job failed as a whole (a task failed {@code spark.task.maxFailures} times)
     */
    public static BatchRunner.Summary submit(String master, PipelineSource source, Settings settings,
                                             Observer observer) throws IOException {
        SparkConf conf = new SparkConf().setAppName("tenstep spark-batch");
        if (master != null) {
            conf.setMaster(master);
        } else if (!conf.contains("spark.master")) {
            conf.setMaster("local[*]");
        }
        boolean local = conf.get("spark.master").startsWith("local");
        if (local) {
            conf.setIfMissing("spark.ui.enabled", "false");
            conf.setIfMissing("spark.driver.bindAddress", "127.0.0.1");
            conf.setIfMissing("spark.driver.host", "localhost");
        }
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            return new SparkBatch(sc, source, settings, observer).run();
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            // Spark's SparkException (checked in Scala, undeclared in Java): a task failed spark.task.maxFailures
            // times; its message's first line says which and why, the rest is the driver's stack trace
            String m = String.valueOf(e.getMessage());
            throw new IOException("the Spark job failed: " + m.lines().findFirst().orElse(m), e);
        } finally {
            if (local) {
                ExecutorPipelines.closeAll();
            }
        }
    }

    /**
     * Runs the job; failures of single lines and images are in the summary, not thrown.
     *
     * @throws IllegalArgumentException for a bad {@code --compare}, two input files with the same name, or a
     *                                  captions file that is not one
     * @throws IOException              when an input cannot be read or the output folder cannot be written
     */
    public BatchRunner.Summary run() throws IOException {
        List<Variant> variants = settings.compare() == null ? List.of() : Variant.parseList(settings.compare());
        HashMap<String, String> hadoop = hadoopSettings();
        OutputFiles files = OutputFiles.open(settings.output(), hadoop);
        files.create();

        // inputs, as batch reads them; the text of each line travels to the executors
        List<PromptEntry> entries = new ArrayList<>();
        Map<Integer, String> texts = new HashMap<>();
        Map<String, Path> stems = new HashMap<>();
        for (Path f : settings.promptFiles()) {
            BatchRunner.checkStem(stems, f);
            for (PromptFile.Line l : PromptFile.promptLines(Files.readAllLines(f, StandardCharsets.UTF_8))) {
                texts.put(entries.size(), l.text());
                entries.add(PromptFile.parseLine(f, l.number(), entries.size(), l.text(), settings.defaults()));
            }
        }
        Set<Integer> captions = new LinkedHashSet<>();
        if (settings.captions() != null) {
            BatchRunner.checkStem(stems, settings.captions());
            for (PromptEntry e : CaptionsFile.read(settings.captions(), settings.perImage(), settings.limit(),
                    settings.defaults(), entries.size())) {
                captions.add(e.index());
                texts.put(e.index(), e.ok() ? e.request().prompt() : "");
                entries.add(e);
            }
        }

        List<GenerationRecord> previous = List.of();
        if (settings.resume()) {
            String text = files.readText(Manifest.FILE);
            if (text != null) {
                Manifest.Parsed parsed = Manifest.parse(text);
                parsed.dropped().forEach(observer::warning);
                previous = parsed.records();
            }
        } else if (files.exists(Manifest.FILE)) {
            files.writeText(Manifest.FILE, "");
        }
        long seedBase = BatchRunner.seedBase(settings.defaults(), settings.resume(), previous);
        Map<String, GenerationRecord> latest = BatchRunner.latestByKey(previous);
        Map<String, Long> randomSeeds = BatchRunner.recordedRandomSeeds(previous);

        // plan: the cells of each valid line (model-free); the model resolves them on the executors
        Map<Integer, List<BatchRunner.Slot>> slots = new LinkedHashMap<>();
        List<LineTask> tasks = new ArrayList<>();
        for (PromptEntry e : entries) {
            if (!e.ok()) {
                continue;
            }
            long seed = BatchRunner.lineSeed(e, seedBase, randomSeeds, observer);
            List<BatchRunner.Slot> line = BatchRunner.slots(e, variants, seed);
            HashMap<String, String> prev = new HashMap<>();
            for (BatchRunner.Slot s : line) {
                GenerationRecord r = latest.get(s.key());
                if (r != null) {
                    prev.put(s.key(), Manifest.line(r).strip());
                }
            }
            slots.put(e.index(), line);
            tasks.add(new LineTask(e.file().toString(), e.line(), e.index(), texts.get(e.index()),
                    captions.contains(e.index()), seed, prev));
        }

        int partitions = Math.max(1, Math.min(tasks.size(),
                settings.partitions() > 0 ? settings.partitions() : spark.defaultParallelism()));
        observer.submitted(tasks.size(), partitions, seedBase, files.uri());
        Map<Integer, LineResult> results = new HashMap<>();
        if (!tasks.isEmpty()) {
            RenderLines render = new RenderLines(source, OptionArgs.of(settings.defaults()), settings.compare(),
                    seedBase, files.uri(), hadoop);
            for (LineResult r : spark.parallelize(tasks, partitions).mapPartitions(render).collect()) {
                results.put(r.index(), r);
            }
        }
        return merge(entries, slots, results, latest, seedBase, files);
    }

    /** Writes the manifest and the contact sheet from the tasks' results; reports failures in prompt order. */
    private BatchRunner.Summary merge(List<PromptEntry> entries, Map<Integer, List<BatchRunner.Slot>> slots,
                                      Map<Integer, LineResult> results, Map<String, GenerationRecord> latest,
                                      long seedBase, OutputFiles files) throws IOException {
        List<BatchRunner.Failure> failures = new ArrayList<>();
        Map<PromptEntry, List<BatchRunner.Slot>> sheetSlots = new LinkedHashMap<>();
        Map<String, GenerationRecord> done = new LinkedHashMap<>();
        List<String> columns = new ArrayList<>();
        StringBuilder manifest = new StringBuilder();
        Set<String> planned = new LinkedHashSet<>();
        String model = null;
        int total = 0;
        int generated = 0;
        int skipped = 0;
        for (PromptEntry e : entries) {
            if (!e.ok()) {
                fail(failures, new BatchRunner.Failure(e.location(), null, e.error()));
                continue;
            }
            LineResult r = results.get(e.index());
            List<BatchRunner.Slot> line = slots.get(e.index());
            line.forEach(s -> planned.add(s.key()));
            if (r == null) {
                // the driver planned a line that no task answered: Spark gives every partition's results, so this
                // would be a bug, said rather than lost
                fail(failures, new BatchRunner.Failure(e.location(), null, "no result from the executors"));
                continue;
            }
            model = model != null ? model : r.model();
            r.warnings().forEach(observer::warning);
            r.failures().forEach(f -> fail(failures, new BatchRunner.Failure(f.source(), f.variant(), f.reason())));
            if (r.cells() == null) {
                continue;
            }
            sheetSlots.put(e, line);
            total += line.size();
            for (BatchRunner.Slot s : line) {
                if (!columns.contains(s.variant().label())) {
                    columns.add(s.variant().label());
                }
            }
            for (LineResult.Cell c : r.cells()) {
                if (c.record() != null) {
                    GenerationRecord rec = parse(c.record());
                    done.put(c.key(), rec);
                    manifest.append(c.record()).append('\n');
                    if (c.generated()) {
                        generated++;
                        observer.made(rec);
                    } else {
                        skipped++;
                    }
                } else if (latest.containsKey(c.key())) {
                    // not made this time (it failed): the earlier record still describes the file on disk
                    manifest.append(Manifest.line(latest.get(c.key())));
                }
            }
        }
        // records of cells this run did not plan (lines since removed) describe files that are still there
        for (Map.Entry<String, GenerationRecord> old : latest.entrySet()) {
            if (!planned.contains(old.getKey())) {
                manifest.append(Manifest.line(old.getValue()));
            }
        }
        files.writeText(Manifest.FILE, manifest.toString());
        ContactSheet sheet = new ContactSheet(model != null ? model : source.name(), seedBase, entries, sheetSlots,
                columns);
        files.writeText(BatchRunner.INDEX, sheet.html(done, failures, true));
        files.removeTemporaries();
        BatchRunner.Summary summary = new BatchRunner.Summary(total, generated, skipped, List.copyOf(failures),
                seedBase);
        observer.finished(summary);
        return summary;
    }

    /** The {@code spark.hadoop.*} settings of the Spark configuration, prefix removed (as Spark applies them). */
    private HashMap<String, String> hadoopSettings() {
        HashMap<String, String> out = new HashMap<>();
        for (Tuple2<String, String> kv : spark.getConf().getAll()) {
            if (kv._1().startsWith("spark.hadoop.")) {
                out.put(kv._1().substring("spark.hadoop.".length()), kv._2());
            }
        }
        return out;
    }

    private void fail(List<BatchRunner.Failure> failures, BatchRunner.Failure f) {
        failures.add(f);
        observer.failed(f);
    }

    private static GenerationRecord parse(String json) {
        try {
            return GenerationRecord.JSON.readValue(json, GenerationRecord.class);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("an executor returned an unreadable record", e);
        }
    }
}
