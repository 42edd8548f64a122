package dev.tenstep.web;

import dev.tenstep.pipeline.ModelDefaults;
import dev.tenstep.pipeline.GenerationRequest;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Retention of the job registry: the oldest finished jobs go first, queued and running ones stay. */
class JobRegistryTest {

    private static Job job(String id) {
        return new Job(id, GenerationRequest.of(id).resolved(1, 8, 8, ModelDefaults.SD), Job.Preview.NONE, null, true);
    }

    private static Job finished(String id) {
        Job j = job(id);
        j.cancelled();
        j.complete();
        return j;
    }

    private static List<String> ids(JobRegistry r) {
        return r.all().stream().map(Job::id).toList();
    }

    @Test
    void retentionDropsTheOldestFinishedJobsNeverRunningOnes() {
        JobRegistry r = new JobRegistry(3);
        Job running = job("running");
        running.running();
        r.add(running);
        r.add(finished("done1"));
        r.add(job("queued"));
        assertEquals(List.of("running", "done1", "queued"), ids(r));
        r.add(finished("done2"));
        assertEquals(List.of("running", "queued", "done2"), ids(r), "the oldest finished job went, the running one stayed");
        r.add(job("queued2"));
        assertEquals(List.of("running", "queued", "queued2"), ids(r));
        // nothing finished left to drop: the registry grows rather than forget a live job
        r.add(job("queued3"));
        assertEquals(List.of("running", "queued", "queued2", "queued3"), ids(r));
        assertTrue(r.get("running").isPresent());
        assertTrue(r.get("done1").isEmpty());
        // once live jobs have finished, the next add trims back to the retained count, oldest first
        running.cancelled();
        running.complete();
        r.add(finished("done3"));
        assertEquals(List.of("queued", "queued2", "queued3"), ids(r));
    }

    @Test
    void rejectsANonPositiveRetention() {
        assertThrows(IllegalArgumentException.class, () -> new JobRegistry(0));
    }
}
