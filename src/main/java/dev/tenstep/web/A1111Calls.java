package dev.tenstep.web;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The {@code /sdapi/v1/txt2img} calls in progress, so that {@code /interrupt} and {@code /skip} act as in A1111,
 * where one call renders its images one after another: <b>skip</b> ends the image being generated and the call goes
 * on with its next image; <b>interrupt</b> ends the image being generated and the rest of its call, which then
 * answers with the images finished so far. Here each image of a call is its own job on the {@link JobQueue}, queued
 * only when the one before it has ended; a call records its current job, and an interrupted call queues no more.
 * Thread-safe.
 */
final class A1111Calls {
    private final JobQueue queue;
    private final Set<Call> calls = ConcurrentHashMap.newKeySet();

    A1111Calls(JobQueue queue) {
        this.queue = queue;
    }

    /** One txt2img call: its current job, how many of its images have ended, and whether it was interrupted. */
    final class Call implements AutoCloseable {
        private Job current;
        private int ended;
        private boolean interrupted;

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
            return current;
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

    /** Registers a new call; close it when the call answers. */
    Call open() {
        Call c = new Call();
        calls.add(c);
        return c;
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
