package dev.tenstep.batch;

import dev.tenstep.io.Hashes;
import dev.tenstep.pipeline.GenerationRecord;
import dev.tenstep.pipeline.GenerationResult;
import dev.tenstep.pipeline.ResolvedRequest;
import dev.tenstep.pipeline.TextToImage;
import dev.tenstep.pipeline.TextToImage.PromptEmbedding;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.util.List;
import java.util.Objects;

/**
 * Renders the pending images of one prompt line: encodes the line's prompt once (with its syntax and clip skip,
 * which all its variants share), then each variant from the starting noise z_init of the line's seed (passed
 * explicitly and hashed into the record's {@code noise_sha256}), and hands each finished image with its record to a
 * {@link Store}. {@link BatchRunner} and the Spark job's tasks ({@code batch/spark}) both render through this class,
 * so the two make the same PNG bytes and records.
 *
 * <p>A failure of the prompt encoding fails the line, a failure of one image (a refused request, non-finite
 * latents, a write error) fails that image; both go to {@link Outcomes#failed} and the line goes on. An exception
 * thrown by {@link Outcomes} itself, or an {@link Error}, ends the rendering at once (a Spark task fails and is
 * retried).
 */
public final class LineRenderer {
    /** Stores a finished image: writes its PNG (atomically) and returns the record as stored. */
    @FunctionalInterface
    public interface Store {
        /**
         * @param made the record of the generation, not yet stored ({@code file}, {@code sha256} and {@code created}
         *             unset)
         */
        GenerationRecord store(BatchRunner.Job job, BufferedImage image, GenerationRecord made) throws IOException;
    }

    /** What became of each image of a line. */
    public interface Outcomes {
        /** The image of {@code job} is stored, with record {@code record}. */
        void done(BatchRunner.Job job, GenerationRecord record);

        /** A line or image failed. */
        void failed(BatchRunner.Failure failure);
    }

    private final TextToImage pipeline;
    private final long seedBase;
    private final BatchRunner.Observer observer;
    private final Store store;

    /**
     * @param seedBase the batch's seed base (recorded)
     * @param observer receives the denoising steps and the prompt's warnings
     */
    public LineRenderer(TextToImage pipeline, long seedBase, BatchRunner.Observer observer, Store store) {
        this.pipeline = Objects.requireNonNull(pipeline);
        this.seedBase = seedBase;
        this.observer = observer == null ? BatchRunner.Observer.NONE : observer;
        this.store = Objects.requireNonNull(store);
    }

    /** Renders {@code pending} (jobs of line {@code e}, in order); nothing happens when it is empty. */
    public void render(PromptEntry e, List<BatchRunner.Job> pending, Outcomes outcomes) {
        if (pending.isEmpty()) {
            return;
        }
        PromptEmbedding emb;
        long encodeMs;
        try {
            long t0 = System.nanoTime();
            emb = pipeline.encodePrompt(pending.get(0).request());
            encodeMs = (System.nanoTime() - t0) / 1_000_000;
            emb.warnings().forEach(w -> observer.warning(e.location() + ": " + w));
        } catch (RuntimeException ex) {
            outcomes.failed(new BatchRunner.Failure(e.location(), null,
                    "prompt encoding failed: " + BatchRunner.reason(ex)));
            return;
        }
        boolean first = true;
        for (BatchRunner.Job j : pending) {
            GenerationRecord rec;
            try {
                rec = render(j, emb, encodeMs, !first);
                first = false;
            } catch (RuntimeException ex) {
                outcomes.failed(new BatchRunner.Failure(e.location(), j.variant().label(),
                        "generation failed: " + BatchRunner.reason(ex)));
                continue;
            } catch (IOException ex) {
                outcomes.failed(new BatchRunner.Failure(e.location(), j.variant().label(),
                        "writing failed: " + BatchRunner.reason(ex)));
                continue;
            }
            outcomes.done(j, rec);
        }
    }

    private GenerationRecord render(BatchRunner.Job j, PromptEmbedding emb, long encodeMs, boolean reused)
            throws IOException {
        ResolvedRequest r = j.request();
        float[] noise = pipeline.initialLatents(r);
        GenerationResult result = pipeline.generate(r, emb, new TextToImage.Options(noise, false, p -> {
            observer.step(j, p);
            return true;
        }));
        GenerationRecord made = GenerationRecord.of(result, pipeline.name(), pipeline.modelHash())
                .inBatch(j.key(), j.entry().location(), j.entry().index(), j.variant().label(), seedBase,
                        j.entry().randomSeed(), Hashes.sha256(noise));
        // the line's prompt was encoded once, before its first variant: that time, and whether this variant reused it
        made = made.withTimings(new GenerationRecord.Timings(encodeMs, reused, result.timings().denoiseMs(),
                result.timings().decodeMs(), result.timings().totalMs(), null));
        return store.store(j, result.image(), made);
    }
}
