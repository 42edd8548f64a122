package dev.tenstep.web;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Every known job by id, for {@code GET /api/jobs/{id}} and the event streams, oldest first. Beyond
 * {@code retained} jobs the oldest finished ones are forgotten (their files stay); a queued or
 * running job is never dropped, however many there are. Thread-safe.
 */
final class JobRegistry {
    /** Finished jobs the server keeps by default. */
    static final int RETAINED = 500;

    private final int retained;
    /** Guarded by this. */
    private final Map<String, Job> jobs = new LinkedHashMap<>();

    /** @param retained jobs kept before the oldest finished ones are dropped (at least 1) */
    JobRegistry(int retained) {
        if (retained < 1) {
            throw new IllegalArgumentException("retained must be at least 1");
        }
        this.retained = retained;
    }

    /** Adds a job, then drops the oldest finished jobs beyond the retained count. */
    synchronized void add(Job job) {
        jobs.put(job.id(), job);
        Iterator<Job> it = jobs.values().iterator();
        while (jobs.size() > retained && it.hasNext()) {
            if (it.next().status().finished()) {
                it.remove();
            }
        }
    }

    synchronized Optional<Job> get(String id) {
        return Optional.ofNullable(jobs.get(id));
    }

    /** The known jobs, oldest first. */
    synchronized List<Job> all() {
        return List.copyOf(jobs.values());
    }
}
