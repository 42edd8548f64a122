package dev.tenstep.batch.spark;

import com.fasterxml.jackson.core.JsonProcessingException;
import dev.tenstep.batch.BatchRunner;
import dev.tenstep.batch.CaptionsFile;
import dev.tenstep.batch.GenerationOptions;
import dev.tenstep.batch.LineRenderer;
import dev.tenstep.batch.Manifest;
import dev.tenstep.batch.PromptEntry;
import dev.tenstep.batch.PromptFile;
import dev.tenstep.batch.Variant;
import dev.tenstep.pipeline.GenerationRecord;
import dev.tenstep.pipeline.InvalidRequestException;
import dev.tenstep.pipeline.OutputWriter;
import dev.tenstep.pipeline.TextToImage;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.resource.ResourceInformation;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The executor side of a Spark batch: renders the prompt lines of one partition with this JVM's model
 * ({@link ExecutorPipelines}, loaded on the first task that needs it) through {@link LineRenderer}, the renderer of
 * {@code batch}, writing each PNG atomically into the output folder ({@link OutputFiles}). A line's images whose
 * earlier record is complete by {@code batch --resume}'s rule ({@link BatchRunner#isDone}) are skipped. The records
 * go back to the driver, which writes the manifest once.
 *
 * <p>Failures are reported per line and image, as {@code batch} reports them: a model that does not load fails every
 * line of the partition ("model load failed"). A task that dies (the executor lost, an {@link Error}) is retried by
 * Spark ({@code spark.task.maxFailures}); the retry writes the same files under the same names with the same bytes,
 * so nothing is lost or made twice.
 */
final class RenderLines implements FlatMapFunction<Iterator<LineTask>, LineResult> {
    private static final long serialVersionUID = 1L;

    /** A test hook, called after each image a task stores: an exception thrown here fails the task. */
    @FunctionalInterface
    interface ImageHook {
        ImageHook NONE = (index, attempt) -> {
        };

        /**
         * @param index   the prompt line's index
         * @param attempt the task's attempt number (0 = first)
         */
        void stored(int index, int attempt);
    }

    /** The hook of this JVM (local mode: the tests' JVM). */
    static volatile ImageHook hook = ImageHook.NONE;

    private final PipelineSource source;
    private final ArrayList<String> defaults;
    private final String compare;
    private final long seedBase;
    private final String output;
    private final HashMap<String, String> hadoop;

    /**
     * @param defaults the batch defaults as option words ({@link OptionArgs#of})
     * @param compare  the {@code --compare} variants, or null
     * @param output   the output folder's qualified URI
     * @param hadoop   Hadoop settings ({@link OutputFiles#open})
     */
    RenderLines(PipelineSource source, ArrayList<String> defaults, String compare, long seedBase, String output,
                HashMap<String, String> hadoop) {
        this.source = source;
        this.defaults = defaults;
        this.compare = compare;
        this.seedBase = seedBase;
        this.output = output;
        this.hadoop = hadoop;
    }

    @Override
    public Iterator<LineResult> call(Iterator<LineTask> tasks) throws IOException {
        TaskContext tc = TaskContext.get();
        int attempt = tc == null ? 0 : tc.attemptNumber();
        GenerationOptions options = OptionArgs.parse(defaults);
        List<Variant> variants = compare == null ? List.of() : Variant.parseList(compare);
        OutputFiles files = OutputFiles.open(output, hadoop);
        List<LineResult> out = new ArrayList<>();
        TextToImage pipeline = null;
        String loadError = null;
        while (tasks.hasNext()) {
            LineTask t = tasks.next();
            if (pipeline == null && loadError == null) {
                try {
                    pipeline = ExecutorPipelines.get(source, gpu(tc));
                } catch (RuntimeException e) {
                    loadError = "model load failed: " + BatchRunner.reason(e);
                }
            }
            if (loadError != null) {
                out.add(failedLine(t, entry(t, options).location(), loadError, null));
                continue;
            }
            out.add(render(pipeline, t, options, variants, files, attempt));
        }
        return out.iterator();
    }

    private LineResult render(TextToImage pipeline, LineTask t, GenerationOptions options, List<Variant> variants,
                              OutputFiles files, int attempt) {
        PromptEntry e = entry(t, options);
        if (!e.ok()) {
            // the driver ships valid lines only; an executor that reads one differently says so
            return failedLine(t, e.location(), e.error(), pipeline.name());
        }
        List<BatchRunner.Job> jobs;
        try {
            jobs = BatchRunner.resolve(pipeline, BatchRunner.slots(e, variants, t.seed()));
        } catch (InvalidRequestException ex) {
            return failedLine(t, e.location(), BatchRunner.reason(ex), pipeline.name());
        }
        Map<String, LineResult.Cell> cells = new LinkedHashMap<>();
        List<BatchRunner.Job> pending = new ArrayList<>();
        for (BatchRunner.Job j : jobs) {
            String prev = t.previous().get(j.key());
            if (prev != null && BatchRunner.isDone(pipeline, j, record(prev), seedBase, files::intact)) {
                cells.put(j.key(), new LineResult.Cell(j.key(), prev, false));
            } else {
                cells.put(j.key(), new LineResult.Cell(j.key(), null, false));
                pending.add(j);
            }
        }
        ArrayList<LineResult.Failure> failures = new ArrayList<>();
        ArrayList<String> warnings = new ArrayList<>();
        BatchRunner.Observer observer = new BatchRunner.Observer() {
            @Override
            public void warning(String message) {
                warnings.add(message);
            }
        };
        LineRenderer renderer = new LineRenderer(pipeline, seedBase, observer, (j, image, made) ->
                OutputWriter.write(j.fileName(), files::write, image, made, Instant.now()).record());
        renderer.render(e, pending, new LineRenderer.Outcomes() {
            @Override
            public void done(BatchRunner.Job job, GenerationRecord r) {
                cells.put(job.key(), new LineResult.Cell(job.key(), Manifest.line(r).strip(), true));
                hook.stored(t.index(), attempt);
            }

            @Override
            public void failed(BatchRunner.Failure f) {
                failures.add(new LineResult.Failure(f.source(), f.variant(), f.reason()));
            }
        });
        return new LineResult(t.index(), pipeline.name(), new ArrayList<>(cells.values()), failures, warnings);
    }

    /** The line's entry, read by the code that read it on the driver. */
    private static PromptEntry entry(LineTask t, GenerationOptions options) {
        Path file = Path.of(t.file());
        return t.caption() ? CaptionsFile.entry(file, t.line(), t.index(), t.text(), options)
                : PromptFile.parseLine(file, t.line(), t.index(), t.text(), options);
    }

    private static LineResult failedLine(LineTask t, String location, String reason, String model) {
        ArrayList<LineResult.Failure> f = new ArrayList<>();
        f.add(new LineResult.Failure(location, null, reason));
        return new LineResult(t.index(), model, null, f, new ArrayList<>());
    }

    private static GenerationRecord record(String json) {
        try {
            return GenerationRecord.JSON.readValue(json, GenerationRecord.class);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("the driver shipped an unreadable record", e);
        }
    }

    /** The address of the task's first GPU ({@code spark.task.resource.gpu.amount}), or null. */
    private static String gpu(TaskContext tc) {
        if (tc == null) {
            return null;
        }
        ResourceInformation gpus = tc.resourcesJMap().get("gpu");
        return gpus == null || gpus.addresses().length == 0 ? null : gpus.addresses()[0];
    }
}
