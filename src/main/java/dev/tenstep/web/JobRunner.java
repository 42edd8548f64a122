package dev.tenstep.web;

import dev.tenstep.io.PngImages;
import dev.tenstep.pipeline.GenerationRecord;
import dev.tenstep.pipeline.GenerationResult;
import dev.tenstep.pipeline.OutputWriter;
import dev.tenstep.pipeline.ResolvedRequest;
import dev.tenstep.pipeline.StepProgress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.Base64;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs one job to its end on a worker thread: the generation on the job's model with a
 * {@link JobEvent.Progress} per step (and its preview, as the job asked), the output written by
 * {@link OutputWriter} (to the outputs folder, or in memory when the job is not saved), and
 * exactly one terminal event. A cancel is seen between steps (the listener stops the sampler) or as
 * the worker's interrupt ({@link #interrupt}); a failure is reported on the job. Nothing is thrown
 * to the worker, so it goes on serving.
 */
final class JobRunner {
    private static final Logger LOG = LoggerFactory.getLogger(JobRunner.class);
    /** How long a shut-down queue waits for its running jobs to stop. */
    private static final long STOP_WAIT_SECONDS = 10;
    private final OutputStore store;
    /** The worker thread of each running job (guarded by this): the one {@link #interrupt} interrupts. */
    private final Map<Job, Thread> running = new IdentityHashMap<>();

    /** @param store the outputs folder that names the files of saved results */
    JobRunner(OutputStore store) {
        this.store = store;
    }

    /**
     * The worker threads: {@code workers} daemon threads taking jobs from {@code waiting} in order.
     * Core = max = workers and a bounded queue: a task waits in the queue, and when the queue is full
     * {@code execute} rejects it (no extra thread can be added), which the queue reports as full.
     */
    static ThreadPoolExecutor workers(int workers, BlockingQueue<Runnable> waiting) {
        AtomicInteger n = new AtomicInteger();
        ThreadPoolExecutor executor = new ThreadPoolExecutor(workers, workers, 0, TimeUnit.SECONDS, waiting, r -> {
            Thread t = new Thread(r, "generate-" + n.getAndIncrement());
            t.setDaemon(true);
            return t;
        }, new ThreadPoolExecutor.AbortPolicy());
        // every worker exists before the first submit, so each job goes through the FIFO queue
        executor.prestartAllCoreThreads();
        return executor;
    }

    /** After {@code shutdownNow}: waits up to {@value #STOP_WAIT_SECONDS} s for the running jobs to stop. */
    static void awaitStop(ThreadPoolExecutor executor) {
        try {
            if (!executor.awaitTermination(STOP_WAIT_SECONDS, TimeUnit.SECONDS)) {
                LOG.warn("a generation did not stop within {} s of shutdown", STOP_WAIT_SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The jobs running now, oldest first. */
    synchronized List<Job> runningJobs() {
        return running.keySet().stream().sorted(Comparator.comparing(Job::created)).toList();
    }

    /** Interrupts the worker of {@code job} when it runs; returns whether it did. */
    synchronized boolean interrupt(Job job) {
        // under the lock: the worker removes its entry (under the lock) before clearing the flag
        Thread worker = running.get(job);
        if (worker != null) {
            worker.interrupt();
        }
        return worker != null;
    }

    /**
     * Runs {@code job} on the calling worker thread, unless it was cancelled before it started.
     *
     * @param started called once the job is marked running (the waiting jobs' places have changed)
     */
    void run(Job job, Runnable started) {
        synchronized (this) {
            if (job.cancelRequested()) {
                // cancelled between leaving the queue and starting
                endCancelled(job, "cancelled");
                return;
            }
            job.running();
            running.put(job, Thread.currentThread());
        }
        started.run();
        ResolvedRequest r = job.request();
        dev.tenstep.pipeline.TextToImage generator = job.generator();
        job.emit(new JobEvent.Started(job.id(), r.stepsRun(), r.outputWidth(), r.outputHeight()));
        try {
            GenerationResult result;
            try {
                result = generator.generate(r, null, dev.tenstep.pipeline.TextToImage.Options.DEFAULT.withListener(p -> onStep(job, p)));
            } finally {
                synchronized (this) {
                    running.remove(job);
                }
                // no cancel can interrupt this thread for this job any more: clear a late interrupt, so the file writes below and the next job do not see it
                Thread.interrupted();
            }
            Instant now = Instant.now();
            GenerationRecord record = GenerationRecord.of(result, generator.name(), generator.modelHash());
            // saved: PNG + sidecar in the outputs folder; not saved (save_images: false): encoded in memory only
            OutputWriter.Output output = job.save()
                    ? OutputWriter.write(store.newFile(result.seed(), job.id(), now), result.image(), record, now,
                    OutputWriter.Sidecar.JSON)
                    : OutputWriter.encode(result.image(), record, now);
            job.succeeded(OutputStore.entry(output), job.save() ? null : output.png());
            job.emit(new JobEvent.Result(job.toJson(0)));
            job.complete();
        } catch (CancellationException e) {
            endCancelled(job, "cancelled");
        } catch (Throwable t) {
            if (job.cancelRequested()) {
                // an interrupt can surface as another exception (e.g. from an interruptible wait)
                LOG.debug("job {} cancelled: {}", job.id(), t.toString());
                endCancelled(job, "cancelled");
                return;
            }
            // the message only: no stack traces leave the server; the log has the details
            LOG.warn("job {} failed", job.id(), t);
            String msg = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
            job.failed("generation failed: " + msg);
            job.emit(new JobEvent.Failed(job.id(), job.error()));
            job.complete();
        }
    }

    /** Ends a job as cancelled, with its terminal event. */
    static void endCancelled(Job job, String message) {
        job.cancelled();
        job.emit(new JobEvent.Cancelled(job.id(), message));
        job.complete();
    }

    /** The step listener: records the step, emits its progress; false (stop) once a cancel was asked for. */
    private static boolean onStep(Job job, StepProgress p) {
        if (job.cancelRequested()) {
            return false;
        }
        job.step(p);
        String preview = job.preview() == Job.Preview.NONE ? null
                : dataUrl(job.generator().preview(p, job.preview() == Job.Preview.VAE));
        job.emit(JobEvent.Progress.of(p, preview, job.preview()));
        return !job.cancelRequested();
    }

    /** {@code img} as a {@code data:image/png;base64,...} URL. */
    static String dataUrl(BufferedImage img) {
        try {
            return "data:image/png;base64," + Base64.getEncoder().encodeToString(PngImages.encode(img, Map.of()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
