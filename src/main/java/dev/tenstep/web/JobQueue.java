package dev.tenstep.web;

import dev.tenstep.io.PngImages;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.GenerationResult;
import dev.tenstep.pipeline.StepProgress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.awt.image.BufferedImage;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Deque;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CancellationException;

/**
 * Runs generations off the request threads: a bounded FIFO of waiting jobs served by
 * {@code workers} threads of one loaded model. A full queue rejects with
 * {@link QueueFullException} (HTTP 429); a job can be cancelled while waiting (removed) or while
 * running: its worker thread is interrupted, which the sampler checks between steps and the UNet
 * and VAE between blocks, so even one long step stops early. The interrupt is cleared once the
 * job's generation returns, so the worker goes on serving. A failed job is reported on the job
 * and never stops the workers.
 */
public final class JobQueue implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(JobQueue.class);
    /** Finished jobs kept for {@code GET /api/jobs/{id}}; older ones are forgotten (their files stay). */
    private static final int RETAINED = 500;

    private final Generator generator;
    private final OutputStore store;
    private final int capacity;
    private final Deque<Job> waiting = new ArrayDeque<>();
    private final Map<String, Job> jobs = new LinkedHashMap<>();
    private final List<Thread> threads = new ArrayList<>();
    /** The worker thread of each running job (guarded by this): the one {@link #cancel} interrupts. */
    private final Map<Job, Thread> running = new java.util.IdentityHashMap<>();
    private boolean closed;

    /** Thrown by {@link #submit} when {@code capacity} jobs are already waiting. */
    public static final class QueueFullException extends RuntimeException {
        public QueueFullException(int capacity) {
            super("the queue is full (" + capacity + " jobs waiting); try again when some have finished");
        }
    }

    /**
     * @param generator the loaded model
     * @param store     where results are written
     * @param workers   worker threads for this model (usually 1: one generation uses every core)
     * @param capacity  most jobs waiting (not counting the running ones)
     */
    public JobQueue(Generator generator, OutputStore store, int workers, int capacity) {
        if (workers < 1 || capacity < 1) {
            throw new IllegalArgumentException("workers and queue size must be at least 1");
        }
        this.generator = generator;
        this.store = store;
        this.capacity = capacity;
        for (int i = 0; i < workers; i++) {
            Thread t = new Thread(this::work, "generate-" + generator.modelName() + "-" + i);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
    }

    public Generator generator() {
        return generator;
    }

    public int capacity() {
        return capacity;
    }

    /**
     * Queues a generation.
     *
     * @param request a request already {@link Generator#resolve resolved} (validated, seed fixed)
     * @throws QueueFullException when the queue is full
     */
    public synchronized Job submit(GenerationRequest request, Job.Preview preview) {
        if (closed) {
            throw new IllegalStateException("the server is shutting down");
        }
        if (waiting.size() >= capacity) {
            throw new QueueFullException(capacity);
        }
        Job job = new Job(UUID.randomUUID().toString().replace("-", "").substring(0, 12), request, preview);
        waiting.addLast(job);
        jobs.put(job.id(), job);
        forgetOldJobs();
        job.emit("queued", Map.of("position", waiting.size()));
        notifyAll();
        return job;
    }

    public synchronized Optional<Job> get(String id) {
        return Optional.ofNullable(jobs.get(id));
    }

    /** 1-based place among the waiting jobs; 0 when running or finished. */
    public synchronized int position(Job job) {
        int i = 1;
        for (Job j : waiting) {
            if (j == job) {
                return i;
            }
            i++;
        }
        return 0;
    }

    /** The jobs running now (oldest first). */
    public synchronized List<Job> runningJobs() {
        List<Job> l = new ArrayList<>(running.keySet());
        l.sort(java.util.Comparator.comparing(Job::created));
        return l;
    }

    /** Number of jobs waiting. */
    public synchronized int waiting() {
        return waiting.size();
    }

    /**
     * What {@link #cancel} did.
     *
     * @param job      the job
     * @param stopping true when the job was running: its worker was interrupted and the job ends
     *                 {@code cancelled} shortly (HTTP 202); false when it was waiting (now
     *                 cancelled) or had already finished (HTTP 200)
     */
    public record Cancellation(Job job, boolean stopping) {
    }

    /**
     * Cancels a job: a waiting one is removed at once; a running one has its worker thread
     * interrupted, so it stops inside the current step (between UNet/VAE blocks).
     *
     * @return what was done, or empty if the job is unknown
     */
    public Optional<Cancellation> cancel(String id) {
        Job job;
        boolean wasWaiting;
        boolean stopping;
        synchronized (this) {
            job = jobs.get(id);
            if (job == null) {
                return Optional.empty();
            }
            job.requestCancel();
            wasWaiting = waiting.remove(job);
            if (wasWaiting) {
                announcePositions();
            }
            Thread worker = running.get(job);
            stopping = worker != null;
            if (worker != null) {
                // under the lock: the worker removes its entry (under the lock) before clearing the flag
                worker.interrupt();
            }
        }
        if (wasWaiting) {
            job.cancelled();
            job.emit("cancelled", Map.of("id", id, "message", "cancelled while waiting"));
            job.complete();
        }
        return Optional.of(new Cancellation(job, stopping));
    }

    private void work() {
        while (true) {
            Job job;
            synchronized (this) {
                while (waiting.isEmpty() && !closed) {
                    try {
                        wait();
                    } catch (InterruptedException e) {
                        // only close() ends a worker; a stray interrupt is cleared by the throw
                    }
                }
                if (closed) {
                    return;
                }
                job = waiting.pollFirst();
                job.running();
                running.put(job, Thread.currentThread());
                announcePositions();
            }
            run(job);
        }
    }

    private void announcePositions() {
        int i = 1;
        for (Job j : waiting) {
            j.emit("queued", Map.of("position", i++));
        }
    }

    private void run(Job job) {
        GenerationRequest r = job.request();
        job.emit("started", Map.of("id", job.id(), "total", r.steps(), "width", r.width(), "height", r.height()));
        try {
            GenerationResult result;
            try {
                result = generator.generate(r, p -> onStep(job, p));
            } finally {
                synchronized (this) {
                    running.remove(job);
                }
                // no cancel can interrupt this thread for this job any more: clear a late interrupt
                // so the next job (and the file writes below) do not see it
                Thread.interrupted();
            }
            OutputStore.Entry entry = store.save(result, job.id(), generator.modelName());
            job.succeeded(entry);
            job.emit("result", job.toJson(0));
        } catch (CancellationException e) {
            job.cancelled();
            job.emit("cancelled", Map.of("id", job.id(), "message", "cancelled"));
        } catch (Throwable t) {
            if (job.cancelRequested()) {
                // an interrupt can surface as another exception (e.g. from an interruptible wait)
                LOG.debug("job {} cancelled: {}", job.id(), t.toString());
                job.cancelled();
                job.emit("cancelled", Map.of("id", job.id(), "message", "cancelled"));
                return;
            }
            // the message only: no stack traces leave the server; the log has the details
            LOG.warn("job {} failed", job.id(), t);
            String msg = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
            job.failed("generation failed: " + msg);
            job.emit("failed", Map.of("id", job.id(), "error", job.error()));
        } finally {
            job.complete();
        }
    }

    private boolean onStep(Job job, StepProgress p) {
        if (job.cancelRequested()) {
            return false;
        }
        job.step(p.step());
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("step", p.step());
        data.put("total", p.total());
        data.put("sigma", p.sigma());
        data.put("timestep", p.timestep());
        data.put("elapsed_ms", p.elapsedMs());
        if (job.preview() != Job.Preview.NONE) {
            BufferedImage img = generator.preview(p, job.preview() == Job.Preview.VAE);
            data.put("preview", dataUrl(img));
            data.put("preview_kind", job.preview().label());
        }
        job.emit("progress", data);
        return !job.cancelRequested();
    }

    static String dataUrl(BufferedImage img) {
        try {
            return "data:image/png;base64," + Base64.getEncoder().encodeToString(PngImages.encode(img, Map.of()));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private void forgetOldJobs() {
        Iterator<Job> it = jobs.values().iterator();
        while (jobs.size() > RETAINED && it.hasNext()) {
            Job j = it.next();
            if (j.status().finished()) {
                it.remove();
            }
        }
    }

    /** Stops the workers: waiting jobs are cancelled, running ones are interrupted. */
    @Override
    public void close() {
        List<Job> dropped;
        synchronized (this) {
            closed = true;
            dropped = new ArrayList<>(waiting);
            waiting.clear();
            jobs.values().forEach(Job::requestCancel);
            running.values().forEach(Thread::interrupt);
            notifyAll();
        }
        for (Job j : dropped) {
            j.cancelled();
            j.emit("cancelled", Map.of("id", j.id(), "message", "server shutting down"));
            j.complete();
        }
        for (Thread t : threads) {
            try {
                t.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
