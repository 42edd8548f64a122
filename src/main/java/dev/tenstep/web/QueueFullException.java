package dev.tenstep.web;

/** Thrown by {@link JobQueue#submit} when the queue's capacity of waiting jobs is reached: HTTP 429. */
public final class QueueFullException extends RuntimeException {
    /** @param capacity the most jobs that may wait */
    public QueueFullException(int capacity) {
        super("the queue is full (" + capacity + " jobs waiting); try again when some have finished");
    }
}
