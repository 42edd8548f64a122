package dev.tenstep.web;

import dev.tenstep.io.PngImages;
import dev.tenstep.pipeline.GenerationRecord;
import dev.tenstep.pipeline.ResolvedRequest;
import dev.tenstep.pipeline.GenerationResult;
import dev.tenstep.pipeline.OutputWriter;
import dev.tenstep.pipeline.StepProgress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.awt.image.BufferedImage;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs generations off the request threads: a {@link ThreadPoolExecutor} of {@code workers}
 * threads for one loaded model, whose bounded FIFO work queue holds the waiting jobs. A full queue
 * rejects with {@link QueueFullException} (HTTP 429); a job can be cancelled while waiting
 * (removed from the work queue) or while running: its worker thread is interrupted, which the
 * sampler checks between steps and the UNet and VAE between blocks, so even one long step stops
 * early. The interrupt is cleared once the job's generation returns, so the worker goes on
 * serving. A failed job is reported on the job and never stops the workers.
 *
 * <p>Every change of the work queue (submit, start, cancel) happens under this object's lock
 * together with the {@code queued} events announcing the new positions, so the last position a
 * waiting job hears is its true one.
 *
 * <p><b>The resident model and switching.</b> One model is resident ({@link #generator()}). Work
 * uses it through a {@link Lease}: a request is resolved against the lease's generator and its job
 * keeps a lease until it ends, so a job runs on the model its request was checked against.
 * {@link #switchModel} is a barrier in line with the leases: leases and switches are served in the
 * order they were asked for (a ticket each), so a switch waits until every job submitted before it
 * has ended (with any number of workers), then swaps the model while nothing uses it, and only
 * leases asked for after it get the new model. While a switch is pending, {@link #tryLease} refuses
 * with {@link SwitchingException} (HTTP 503) and {@link #lease(long, TimeUnit)} waits.
 */
public final class JobQueue implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(JobQueue.class);
    /** Finished jobs kept for {@code GET /api/jobs/{id}}; older ones are forgotten (their files stay). */
    private static final int RETAINED = 500;
    /** How long {@link #close} waits for running jobs to stop. */
    private static final long CLOSE_WAIT_SECONDS = 10;

    /** The resident model: what new leases get (written only by {@link #switchModel}). */
    private volatile Generator generator;
    private final OutputStore store;
    private final int capacity;
    private final ThreadPoolExecutor executor;
    /** The executor's work queue: the waiting jobs' tasks, oldest first. */
    private final BlockingQueue<Runnable> waiting;
    /** Every known job by id, oldest first (guarded by this). */
    private final Map<String, Job> jobs = new LinkedHashMap<>();
    /** The worker thread of each running job (guarded by this): the one {@link #cancel} interrupts. */
    private final Map<Job, Thread> running = new IdentityHashMap<>();
    private boolean closed;
    /** Open leases on the resident model (guarded by this); a switch waits for none. */
    private long leases;
    /** The next ticket of a lease or switch request (guarded by this): requests are served in ticket order. */
    private long nextTicket;
    /** Switches asked for and not yet finished, by ticket, with the model each switches to (guarded by this). */
    private final TreeMap<Long, String> switches = new TreeMap<>();

    /** Thrown by {@link #submit} when {@code capacity} jobs are already waiting. */
    public static final class QueueFullException extends RuntimeException {
        public QueueFullException(int capacity) {
            super("the queue is full (" + capacity + " jobs waiting); try again when some have finished");
        }
    }

    /** Thrown by {@link #tryLease} (and {@link #lease} after its wait) while the model is being switched: HTTP 503. */
    public static final class SwitchingException extends RuntimeException {
        public SwitchingException(String message) {
            super(message);
        }
    }

    /**
     * A use of the resident model: while any lease is open, the model is not switched. Each job
     * holds its own lease until it ends; a caller holds one from resolving a request to submitting
     * it (or, for a synchronous call, until its last job has ended). Closing twice is harmless.
     */
    public final class Lease implements AutoCloseable {
        private final Generator leased;
        private boolean open = true;

        private Lease(Generator leased) {
            this.leased = leased;
        }

        /** The model this lease uses: resolve requests with it. */
        public Generator generator() {
            return leased;
        }

        @Override
        public void close() {
            synchronized (JobQueue.this) {
                if (open) {
                    open = false;
                    leases--;
                    JobQueue.this.notifyAll();
                }
            }
        }
    }

    /** The work item of one job in the executor (found again by its job for positions and cancel). */
    private final class JobTask implements Runnable {
        final Job job;
        /** The job's own lease on its model, closed when the job ends. */
        final Lease lease;

        JobTask(Job job, Lease lease) {
            this.job = job;
            this.lease = lease;
        }

        @Override
        public void run() {
            try {
                runJob(job);
            } finally {
                lease.close();
            }
        }
    }

    /**
     * @param generator the loaded model
     * @param store     where results are written
     * @param workers   worker threads for this model (usually 1: one generation uses every core)
     * @param capacity  most jobs waiting (not counting the running ones)
     * @throws IllegalArgumentException when {@code workers} or {@code capacity} is below 1
     */
    public JobQueue(Generator generator, OutputStore store, int workers, int capacity) {
        if (workers < 1 || capacity < 1) {
            throw new IllegalArgumentException("workers and queue size must be at least 1");
        }
        this.generator = generator;
        this.store = store;
        this.capacity = capacity;
        this.waiting = new LinkedBlockingQueue<>(capacity);
        AtomicInteger n = new AtomicInteger();
        ThreadFactory threads = r -> {
            Thread t = new Thread(r, "generate-" + n.getAndIncrement());
            t.setDaemon(true);
            return t;
        };
        // core = max = workers and a bounded queue: a task waits in the queue, and when the queue
        // is full execute() rejects it (no extra thread can be added) -> QueueFullException
        this.executor = new ThreadPoolExecutor(workers, workers, 0, TimeUnit.SECONDS, waiting, threads,
                new ThreadPoolExecutor.AbortPolicy());
        // every worker exists before the first submit, so each job goes through the FIFO queue
        executor.prestartAllCoreThreads();
    }

    /**
     * The resident model: for what pages and lists show. Work that depends on the model (resolving
     * a request, then running it) takes a {@link #lease} instead, so a switch cannot come between.
     */
    public Generator generator() {
        return generator;
    }

    /**
     * A lease on the resident model, at once.
     *
     * @throws SwitchingException    while a switch is pending (asked for and not finished)
     * @throws IllegalStateException after {@link #close}
     */
    public synchronized Lease tryLease() {
        if (closed) {
            throw new IllegalStateException("the server is shutting down");
        }
        if (!switches.isEmpty()) {
            throw switching(switches.firstEntry().getValue());
        }
        leases++;
        return new Lease(generator);
    }

    /**
     * A lease on the resident model, after every switch asked for before this call has finished
     * (so the lease gets the model those switches loaded).
     *
     * @throws SwitchingException    when those switches take longer than {@code timeout}
     * @throws IllegalStateException after {@link #close}
     * @throws InterruptedException  when interrupted while waiting
     */
    public synchronized Lease lease(long timeout, TimeUnit unit) throws InterruptedException {
        long ticket = nextTicket++;
        long deadline = System.nanoTime() + unit.toNanos(timeout);
        while (!closed && !switches.isEmpty() && switches.firstKey() < ticket) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw switching(switches.firstEntry().getValue());
            }
            TimeUnit.NANOSECONDS.timedWait(this, left);
        }
        if (closed) {
            throw new IllegalStateException("the server is shutting down");
        }
        leases++;
        return new Lease(generator);
    }

    /** The model a pending switch goes to (it waits for earlier jobs, or loads), or null when none is pending. */
    public synchronized String switchingTo() {
        return switches.isEmpty() ? null : switches.firstEntry().getValue();
    }

    private static SwitchingException switching(String target) {
        return new SwitchingException("the server is switching the model to '" + target
                + "' after the jobs queued before; new jobs are taken once it is loaded, try again shortly");
    }

    /**
     * Switches the resident model: waits until every lease and switch asked for before has ended
     * (all jobs submitted before have finished or been cancelled), then calls {@code swap} with the
     * resident model, with no job running and none waiting; what it returns is the resident model
     * from then on. Leases asked for meanwhile wait ({@link #lease}) or are refused
     * ({@link #tryLease}) until {@code swap} returns.
     *
     * @param target name of the model switched to, for the refusals' messages
     * @param swap   closes the old model, loads the new one and returns it, or returns the model to
     *               keep serving (it must not return null); runs on the calling thread, outside this
     *               queue's lock. Should it throw, the old model stays resident.
     * @return what {@code swap} returned
     * @throws IllegalStateException after {@link #close}
     * @throws InterruptedException  when interrupted while waiting (nothing was swapped)
     */
    public Generator switchModel(String target, java.util.function.UnaryOperator<Generator> swap) throws InterruptedException {
        long ticket;
        Generator old;
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("the server is shutting down");
            }
            ticket = nextTicket++;
            switches.put(ticket, target);
            try {
                while (!closed && (switches.firstKey() != ticket || leases > 0)) {
                    wait();
                }
            } catch (InterruptedException e) {
                switches.remove(ticket);
                notifyAll();
                throw e;
            }
            if (closed) {
                switches.remove(ticket);
                notifyAll();
                throw new IllegalStateException("the server is shutting down");
            }
            old = generator;
        }
        Generator now = old;
        try {
            now = java.util.Objects.requireNonNull(swap.apply(old), "swap returned no model");
            return now;
        } finally {
            synchronized (this) {
                generator = now;
                switches.remove(ticket);
                notifyAll();
            }
        }
    }

    public int capacity() {
        return capacity;
    }

    /**
     * Queues a generation on the resident model ({@link #tryLease}).
     *
     * @param request a request already {@link Generator#resolve resolved} by the resident model
     * @throws QueueFullException    when {@code capacity} jobs are waiting
     * @throws SwitchingException    while the model is being switched
     * @throws IllegalStateException after {@link #close}
     */
    public Job submit(ResolvedRequest request, Job.Preview preview) {
        try (Lease lease = tryLease()) {
            return submit(lease, request, preview);
        }
    }

    /**
     * Queues a generation on the lease's model; the job takes a lease of its own, held until it
     * ends, so the caller may close its lease after this returns.
     *
     * @param lease   an open lease
     * @param request a request {@link Generator#resolve resolved} by {@code lease.generator()}
     * @throws QueueFullException    when {@code capacity} jobs are waiting
     * @throws IllegalStateException after {@link #close}, or when the lease is closed
     */
    public Job submit(Lease lease, ResolvedRequest request, Job.Preview preview) {
        return submit(lease, request, preview, true);
    }

    /**
     * As {@link #submit(Lease, ResolvedRequest, Job.Preview)}; with {@code save} false the result is encoded in
     * memory only ({@link Job#takePng}), nothing written to the outputs folder (A1111's {@code save_images: false}).
     */
    public synchronized Job submit(Lease lease, ResolvedRequest request, Job.Preview preview, boolean save) {
        if (closed) {
            throw new IllegalStateException("the server is shutting down");
        }
        if (!lease.open) {
            throw new IllegalStateException("the lease is closed");
        }
        if (waiting.remainingCapacity() == 0) {
            throw new QueueFullException(capacity);
        }
        Job job = new Job(UUID.randomUUID().toString().replace("-", "").substring(0, 12), request, preview,
                lease.generator(), save);
        // the caller's open lease keeps any switch waiting, so the job's own lease is on the same model
        leases++;
        Lease own = new Lease(lease.generator());
        // announced before the task can start, so "queued" always precedes "started"
        job.emit("queued", Map.of("position", waiting.size() + 1));
        jobs.put(job.id(), job);
        try {
            executor.execute(new JobTask(job, own));
        } catch (RejectedExecutionException e) {
            // only a shutdown can get here: the queue only shrinks while this lock is held
            jobs.remove(job.id());
            own.close();
            throw new QueueFullException(capacity);
        }
        forgetOldJobs();
        return job;
    }

    public synchronized Optional<Job> get(String id) {
        return Optional.ofNullable(jobs.get(id));
    }

    /** 1-based place among the waiting jobs; 0 when running or finished. */
    public synchronized int position(Job job) {
        int i = 1;
        for (Runnable r : waiting) {
            if (((JobTask) r).job == job) {
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
    public int waiting() {
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
     * Cancels a job: a waiting one is removed from the work queue at once; a running one has its
     * worker thread interrupted, so it stops inside the current step (between UNet/VAE blocks).
     *
     * @return what was done, or empty if the job is unknown
     */
    public Optional<Cancellation> cancel(String id) {
        Job job;
        boolean wasWaiting = false;
        boolean stopping;
        JobTask removed = null;
        synchronized (this) {
            job = jobs.get(id);
            if (job == null) {
                return Optional.empty();
            }
            job.requestCancel();
            for (Runnable r : waiting) {
                if (((JobTask) r).job == job) {
                    wasWaiting = executor.remove(r);
                    removed = (JobTask) r;
                    break;
                }
            }
            if (wasWaiting) {
                announcePositions();
            }
            Thread worker = running.get(job);
            if (worker != null) {
                // under the lock: the worker removes its entry (under the lock) before clearing the flag
                worker.interrupt();
            }
            // a job taken by a worker but not yet registered sees the cancel request when it starts
            stopping = worker != null || (!wasWaiting && !job.status().finished());
        }
        if (wasWaiting) {
            endCancelled(job, "cancelled while waiting");
            removed.lease.close();
        }
        return Optional.of(new Cancellation(job, stopping));
    }

    /** Under the lock: tells each waiting job its 1-based place. */
    private void announcePositions() {
        int i = 1;
        for (Runnable r : waiting) {
            ((JobTask) r).job.emit("queued", Map.of("position", i++));
        }
    }

    /** A worker runs one job; nothing thrown here reaches the executor, so the worker survives. */
    private void runJob(Job job) {
        synchronized (this) {
            if (job.cancelRequested()) {
                // cancelled between leaving the queue and starting
                endCancelled(job, "cancelled");
                return;
            }
            job.running();
            running.put(job, Thread.currentThread());
            announcePositions();
        }
        ResolvedRequest r = job.request();
        Generator generator = job.generator();
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
                // so the file writes below and the next job do not see it
                Thread.interrupted();
            }
            Instant now = Instant.now();
            GenerationRecord record = GenerationRecord.of(result, generator.modelName(), generator.modelHash());
            OutputWriter.Output output = job.save()
                    ? OutputWriter.write(store.newFile(result.seed(), job.id(), now), result.image(), record, now,
                    OutputWriter.Sidecar.JSON)
                    : OutputWriter.encode(result.image(), record, now);
            job.succeeded(OutputStore.entry(output), job.save() ? null : output.png());
            job.emit("result", job.toJson(0));
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
            job.emit("failed", Map.of("id", job.id(), "error", job.error()));
            job.complete();
        }
    }

    private static void endCancelled(Job job, String message) {
        job.cancelled();
        job.emit("cancelled", Map.of("id", job.id(), "message", message));
        job.complete();
    }

    private boolean onStep(Job job, StepProgress p) {
        if (job.cancelRequested()) {
            return false;
        }
        job.step(p);
        Map<String, Object> data = new LinkedHashMap<>();
        data.put("step", p.step());
        data.put("total", p.total());
        data.put("sigma", p.sigma());
        data.put("timestep", p.timestep());
        data.put("elapsed_ms", p.elapsedMs());
        if (job.preview() != Job.Preview.NONE) {
            BufferedImage img = job.generator().preview(p, job.preview() == Job.Preview.VAE);
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

    /** Under the lock: drops the oldest finished jobs beyond {@link #RETAINED}. */
    private void forgetOldJobs() {
        Iterator<Job> it = jobs.values().iterator();
        while (jobs.size() > RETAINED && it.hasNext()) {
            Job j = it.next();
            if (j.status().finished()) {
                it.remove();
            }
        }
    }

    /**
     * Stops the workers: waiting jobs are cancelled, running ones are interrupted; waits up to
     * {@value #CLOSE_WAIT_SECONDS} s for them to stop.
     */
    @Override
    public void close() {
        List<Runnable> dropped;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            jobs.values().forEach(Job::requestCancel);
            // drains the work queue and interrupts every worker, idle or running
            dropped = new ArrayList<>(executor.shutdownNow());
            // callers waiting for a lease or a switch give up
            notifyAll();
        }
        for (Runnable r : dropped) {
            endCancelled(((JobTask) r).job, "server shutting down");
            ((JobTask) r).lease.close();
        }
        try {
            if (!executor.awaitTermination(CLOSE_WAIT_SECONDS, TimeUnit.SECONDS)) {
                LOG.warn("a generation did not stop within {} s of shutdown", CLOSE_WAIT_SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
