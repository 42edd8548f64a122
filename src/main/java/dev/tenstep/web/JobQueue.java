package dev.tenstep.web;

import dev.tenstep.pipeline.ResolvedRequest;

import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;

/**
 * Runs generations off the request threads: {@code workers} threads ({@link JobRunner#workers}) take the
 * waiting jobs from a bounded FIFO work queue; a full queue rejects with {@link QueueFullException} (HTTP 429).
 * A job can be cancelled while waiting (removed from the work queue) or while running: its worker is interrupted,
 * which the sampler checks between steps and the UNet and VAE between blocks. Each job holds a
 * {@link ResidentModel.Lease} until it ends, so a model switch waits for it; {@link JobRunner} runs it,
 * {@link JobRegistry} keeps it for lookups. Every change of the work queue (submit, start, cancel) happens under
 * this object's lock with the {@code queued} events announcing the new places, so a waiting job's last one is true.
 */
public final class JobQueue implements AutoCloseable {
    private final ResidentModel<ServedModel> model;
    private final JobRegistry jobs = new JobRegistry(JobRegistry.RETAINED);
    private final JobRunner runner;
    private final int capacity;
    private final ThreadPoolExecutor executor;
    /** The executor's work queue: the waiting jobs' tasks, oldest first. */
    private final BlockingQueue<Runnable> waiting;

    /** The work item of one job (found again by its job for positions and cancel); it closes the job's lease. */
    private record JobTask(Job job, ResidentModel.Lease<ServedModel> lease, JobQueue queue) implements Runnable {
        @Override
        public void run() {
            try {
                queue.runner.run(job, queue::announcePositions);
            } finally {
                lease.close();
            }
        }

        /** Ends the job, which never ran, as cancelled (and closes its lease). */
        void drop(String message) {
            JobRunner.endCancelled(job, message);
            lease.close();
        }
    }

    /**
     * @param workers  worker threads (usually 1: one generation uses every core)
     * @param capacity most jobs waiting (not counting the running ones)
     * @throws IllegalArgumentException when {@code workers} or {@code capacity} is below 1
     */
    public JobQueue(ServedModel generator, OutputStore store, int workers, int capacity) {
        if (workers < 1 || capacity < 1) {
            throw new IllegalArgumentException("workers and queue size must be at least 1");
        }
        this.model = new ResidentModel<>(generator);
        this.runner = new JobRunner(store);
        this.capacity = capacity;
        this.waiting = new LinkedBlockingQueue<>(capacity);
        this.executor = JobRunner.workers(workers, waiting);
    }

    /**
     * The resident model: its {@link ResidentModel#generator generator} for what pages and lists show, and its
     * leases: take one to resolve a request, then submit under it.
     */
    public ResidentModel<ServedModel> model() {
        return model;
    }

    public int capacity() {
        return capacity;
    }

    /** Queues a generation on the resident model at once ({@link ResidentModel#tryLease}), as below. */
    public Job submit(ResolvedRequest request, Job.Preview preview) {
        try (ResidentModel.Lease<ServedModel> lease = model.tryLease()) {
            return submit(lease, request, preview);
        }
    }

    /**
     * Queues a generation on the lease's model; the job holds a lease of its own until it ends, so the
     * caller may close its lease after this returns.
     *
     * @param request a request resolved by {@code lease.generator()} ({@link dev.tenstep.pipeline.TextToImage#resolve(dev.tenstep.pipeline.GenerationRequest, int) model().resolve(request, maxSize())})
     * @throws QueueFullException    when {@code capacity} jobs are waiting
     * @throws IllegalStateException after {@link #close}, or when the lease is closed
     */
    public Job submit(ResidentModel.Lease<ServedModel> lease, ResolvedRequest request, Job.Preview preview) {
        return submit(lease, request, preview, true);
    }

    /**
     * As {@link #submit(ResidentModel.Lease, ResolvedRequest, Job.Preview)}; with {@code save} false the result is
     * encoded in memory only ({@link Job#takePng}), nothing written to the outputs folder (A1111's
     * {@code save_images: false}).
     */
    public synchronized Job submit(ResidentModel.Lease<ServedModel> lease, ResolvedRequest request, Job.Preview preview,
                                   boolean save) {
        if (executor.isShutdown()) {
            throw new IllegalStateException("the server is shutting down");
        }
        if (waiting.remainingCapacity() == 0) {
            throw new QueueFullException(capacity);
        }
        ResidentModel.Lease<ServedModel> own = lease.share();
        Job job = new Job(UUID.randomUUID().toString().replace("-", "").substring(0, 12), request, preview,
                lease.generator().model(), save);
        // announced before the task can start, so "queued" always precedes "started"
        job.emit(new JobEvent.Queued(waiting.size() + 1));
        try {
            executor.execute(new JobTask(job, own, this));
        } catch (RejectedExecutionException e) {
            // not expected: shutdown and capacity were checked under this lock, and the queue only shrinks outside it
            own.close();
            throw new QueueFullException(capacity);
        }
        jobs.add(job);
        return job;
    }

    public Optional<Job> get(String id) {
        return jobs.get(id);
    }

    /** 1-based place among the waiting jobs; 0 when running or finished. */
    public synchronized int position(Job job) {
        return tasks().stream().map(JobTask::job).toList().indexOf(job) + 1;
    }

    private List<JobTask> tasks() {
        return waiting.stream().map(JobTask.class::cast).toList();
    }

    /** The jobs running now (oldest first). */
    public List<Job> runningJobs() {
        return runner.runningJobs();
    }

    /** Number of jobs waiting. */
    public int waiting() {
        return waiting.size();
    }

    /**
     * What {@link #cancel} did: {@code stopping} when the job was running (its worker was interrupted and the job
     * ends {@code cancelled} shortly: HTTP 202), not when it was waiting (now cancelled) or had ended (HTTP 200).
     */
    public record Cancellation(Job job, boolean stopping) {
    }

    /** Cancels a job: a waiting one leaves the work queue at once, a running one stops inside its current step. */
    public Optional<Cancellation> cancel(String id) {
        return jobs.get(id).map(this::cancel);
    }

    private Cancellation cancel(Job job) {
        Optional<JobTask> removed;
        boolean stopping;
        synchronized (this) {
            job.requestCancel();
            removed = tasks().stream().filter(t -> t.job() == job).findFirst().filter(executor::remove);
            removed.ifPresent(t -> announcePositions());
            // a job taken by a worker but not yet registered sees the cancel request when it starts
            stopping = runner.interrupt(job) || (removed.isEmpty() && !job.status().finished());
        }
        removed.ifPresent(t -> t.drop("cancelled while waiting"));
        return new Cancellation(job, stopping);
    }

    /** Tells each waiting job its 1-based place. */
    private synchronized void announcePositions() {
        List<JobTask> tasks = tasks();
        for (int i = 0; i < tasks.size(); i++) {
            tasks.get(i).job().emit(new JobEvent.Queued(i + 1));
        }
    }

    /**
     * Stops the workers: waiting jobs are cancelled, running ones are interrupted, no new lease is
     * granted; waits a while for them to stop ({@link JobRunner#awaitStop}).
     */
    @Override
    public void close() {
        List<Runnable> dropped;
        synchronized (this) {
            if (executor.isShutdown()) {
                return;
            }
            model.close();
            jobs.all().forEach(Job::requestCancel);
            // drains the work queue and interrupts every worker, idle or running
            dropped = executor.shutdownNow();
        }
        dropped.forEach(r -> ((JobTask) r).drop("server shutting down"));
        JobRunner.awaitStop(executor);
    }
}
