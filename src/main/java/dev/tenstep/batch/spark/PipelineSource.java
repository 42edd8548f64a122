package dev.tenstep.batch.spark;

import dev.tenstep.pipeline.TextToImage;

import java.io.Serializable;

/**
 * How an executor opens the model of a Spark batch: shipped to every executor with the job, opened there at most
 * once per JVM ({@link ExecutorPipelines}). The command line implements it from its model options, so an executor
 * loads exactly what {@code batch} would.
 */
public interface PipelineSource extends Serializable {
    /** What identifies the model and its load options (the executor's cache key), e.g. the options as words. */
    String key();

    /** The model's name for the driver's messages and contact sheet before any executor has loaded it. */
    String name();

    /**
     * Loads the model.
     *
     * @param gpu the address of the GPU Spark gave the task ({@code spark.task.resource.gpu.amount}), e.g.
     *            {@code "0"}, or null when the task has none
     * @throws RuntimeException (e.g. {@link dev.tenstep.model.ModelLoadException}) naming what failed
     */
    TextToImage open(String gpu);
}
