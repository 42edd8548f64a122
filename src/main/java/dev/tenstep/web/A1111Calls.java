package dev.tenstep.web;

import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The {@code /sdapi/v1/txt2img} calls in progress, so that {@code /interrupt} and {@code /skip} act as in A1111,
 * where one call renders its images one after another: <b>skip</b> ends the image being generated and the call goes
 * on with its next image; <b>interrupt</b> ends the image being generated and the rest of its call, which then
 * answers with the images finished so far. Here each image of a call is its own job on the {@link JobQueue}, queued
 * only when the one before it has ended; a call records its current job, and an interrupted call queues no more.
 * {@code /progress} reads the calls too ({@link #active}): between two images of a call no job of it runs, yet the
 * call is still in progress. Thread-safe.
 */
final class A1111Calls {
    private final JobQueue queue;
    private final Set<Call> calls = ConcurrentHashMap.newKeySet();

    A1111Calls(JobQueue queue) {
        this.queue = queue;
    }

    /**
     * Where a call stands, for {@code /progress}.
     *
     * @param current the job of its current image (running, waiting, or the one just ended before the next is queued)
     * @param done    images of the call that have ended (generated, skipped or failed)
     * @param images  images the call renders in all
     * @param started when the call's first image started, or null when it has not started
     */
    record State(Job current, int done, int images, Instant started) {
    }

    /** One txt2img call: its current job, how many of its images have ended, and whether it was interrupted. */
    final class Call implements AutoCloseable {
        private final int images;
        private Job first;
        private Job current;
        private int ended;
        private boolean interrupted;

        private Call(int images) {
            this.images = images;
        }

        /**
         * Queues the call's next image, unless the call was interrupted.
         *
         * @param submit queues the image's job
         * @return the job, or null when the call was interrupted (it queues nothing more)
         */
        synchronized Job next(java.util.function.Supplier<Job> submit) {
            if (interrupted) {
                return null;
            }
            if (current != null) {
                ended++;
            }
            current = submit.get();
            if (first == null) {
                first = current;
            }
            return current;
        }

        private synchronized State state() {
            int done = ended + (current != null && current.status().finished() ? 1 : 0);
            return new State(current, done, images, first == null ? null : first.started());
        }

        synchronized boolean interrupted() {
            return interrupted;
        }

        /** Whether the call has begun: an image of it ran or runs (a call whose first job still waits has not). */
        private synchronized boolean begun() {
            return ended > 0 || (current != null && current.status() != Job.Status.QUEUED);
        }

        /** Marks the call interrupted and returns its current job (to cancel), or null. */
        private synchronized Job interrupt() {
            interrupted = true;
            return current;
        }

        private synchronized boolean runs(Job job) {
            return current == job;
        }

        /** Ends the call: interrupt and skip no longer see it. */
        @Override
        public void close() {
            calls.remove(this);
        }
    }

    /**
     * Registers a new call; close it when the call answers.
     *
     * @param images the images the call renders (batch_size x n_iter), at least 1
     */
    Call open(int images) {
        Call c = new Call(images);
        calls.add(c);
        return c;
    }

    /**
     * The call {@code /progress} reports: the call of the oldest running job that belongs to a call, else a call
     * that has begun and is between two images (its next image waiting, or not queued yet), else empty (no call, or
     * only calls still waiting for their first image).
     *
     * @param running the running jobs, oldest first ({@link JobQueue#runningJobs})
     */
    Optional<State> active(List<Job> running) {
        for (Job j : running) {
            for (Call c : calls) {
                if (c.runs(j)) {
                    return Optional.of(c.state());
                }
            }
        }
        for (Call c : calls) {
            if (c.begun()) {
                return Optional.of(c.state());
            }
        }
        return Optional.empty();
    }

    /**
     * A1111's interrupt: cancels every running job, and ends the calls that have begun (the one of a running job,
     * and one between two of its images): their current job is cancelled and they queue no further image. Calls
     * that have not begun (still waiting for their first image to start) and other waiting jobs are not touched.
     */
    void interrupt() {
        for (Job j : queue.runningJobs()) {
            for (Call c : calls) {
                if (c.runs(j)) {
                    c.interrupt();
                }
            }
            queue.cancel(j.id());
        }
        for (Call c : calls) {
            if (c.begun()) {
                Job j = c.interrupt();
                if (j != null) {
                    queue.cancel(j.id());
                }
            }
        }
    }

    /** A1111's skip: cancels the running jobs only; a txt2img call of one of them goes on with its next image. */
    void skip() {
        for (Job j : queue.runningJobs()) {
            queue.cancel(j.id());
        }
    }
}
