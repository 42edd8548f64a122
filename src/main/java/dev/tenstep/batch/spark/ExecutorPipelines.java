package dev.tenstep.batch.spark;

import dev.tenstep.pipeline.TextToImage;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The models of this JVM (a Spark executor, or the driver in local mode), loaded lazily on a task's first use and
 * kept for every later task: one load per model, source options and GPU, however many tasks and partitions the
 * executor runs. {@link TextToImage} models are thread-safe, so the tasks an executor runs at once share one.
 */
public final class ExecutorPipelines {
    private static final Map<String, TextToImage> LOADED = new LinkedHashMap<>();
    private static final Map<String, Integer> LOADS = new HashMap<>();

    private ExecutorPipelines() {
    }

    /**
     * The model of {@code source} on {@code gpu}, loaded now if this JVM has not loaded it yet. Concurrent callers
     * wait for one load. A failed load is not kept: the next task tries again.
     *
     * @param gpu the task's GPU address, or null
     * @throws RuntimeException from {@link PipelineSource#open}
     */
    public static synchronized TextToImage get(PipelineSource source, String gpu) {
        String key = key(source, gpu);
        TextToImage p = LOADED.get(key);
        if (p == null) {
            p = source.open(gpu);
            LOADED.put(key, p);
            LOADS.merge(key, 1, Integer::sum);
        }
        return p;
    }

    /** How often this JVM has loaded the model of {@code source} on {@code gpu} (tests: once). */
    public static synchronized int loads(PipelineSource source, String gpu) {
        return LOADS.getOrDefault(key(source, gpu), 0);
    }

    /** Closes every model of this JVM (the local-mode command, when its job has ended). */
    public static synchronized void closeAll() {
        for (TextToImage p : LOADED.values()) {
            try {
                p.close();
            } catch (Exception e) {
                // closing frees native memory at exit; nothing is left to save
            }
        }
        LOADED.clear();
    }

    private static String key(PipelineSource source, String gpu) {
        return source.key() + (gpu == null ? "" : " @gpu " + gpu);
    }
}
