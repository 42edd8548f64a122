package dev.tenstep.web;

import dev.tenstep.pipeline.TextToImage;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.GenerationResult;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The job queue's rules on the tiny-sd15 fixture, with the first job held at its first step:
 * FIFO order, the waiting capacity, announced positions, cancel of a waiting job, close().
 */
class JobQueueTest extends TinySd15WebTest {

    /** Records the order in which jobs start, then holds or runs them as {@link WebTestSupport.HoldingModel} does. */
    static final class RecordingGenerator extends WebTestSupport.ForwardingModel {
        final List<String> started = Collections.synchronizedList(new ArrayList<>());

        RecordingGenerator(WebTestSupport.HoldingModel holding) {
            super(holding);
        }

        @Override
        public GenerationResult generate(dev.tenstep.pipeline.ResolvedRequest request, PromptEmbedding embedding,
                                         Options options) {
            started.add(request.prompt());
            return real.generate(request, embedding, options);
        }
    }

    private static dev.tenstep.pipeline.ResolvedRequest request(String prompt) {
        return generator.resolve(GenerationRequest.of(prompt).withSteps(1).withSeed(1));
    }

    /** The position in the last {@code queued} event the job emitted. */
    private static int announcedPosition(Job job) {
        BlockingQueue<Job.Event> events = new LinkedBlockingQueue<>();
        java.util.function.Consumer<Job.Event> sink = events::add;
        job.subscribe(sink);
        job.unsubscribe(sink);
        int position = -1;
        for (Job.Event e : events) {
            if (e.data() instanceof JobEvent.Queued q) {
                position = q.position();
            }
        }
        return position;
    }

    @Test
    void waitingJobsRunInOrderWithTheirPositionsAnnounced() throws Exception {
        WebTestSupport.HoldingModel holding = new WebTestSupport.HoldingModel(generator);
        RecordingGenerator recording = new RecordingGenerator(holding);
        try (JobQueue queue = new JobQueue(ServedModel.of(recording), new OutputStore(outputs), 1, 3)) {
            Job a = queue.submit(request("a"), Job.Preview.NONE);
            holding.awaitStarted();
            Job b = queue.submit(request("b"), Job.Preview.NONE);
            Job c = queue.submit(request("c"), Job.Preview.NONE);
            Job d = queue.submit(request("d"), Job.Preview.NONE);
            assertEquals(List.of(0, 1, 2, 3), List.of(queue.position(a), queue.position(b), queue.position(c), queue.position(d)));
            assertEquals(3, queue.waiting());
            // the running job does not count against the capacity; the waiting ones do
            assertThrows(QueueFullException.class, () -> queue.submit(request("e"), Job.Preview.NONE));

            JobQueue.Cancellation cb = queue.cancel(b.id()).orElseThrow();
            assertFalse(cb.stopping(), "a waiting job is cancelled at once");
            assertEquals(Job.Status.CANCELLED, b.status());
            assertTrue(b.done().isDone());
            assertEquals(1, queue.position(c));
            assertEquals(1, announcedPosition(c), "the jobs behind a cancelled one hear their new place");
            assertEquals(2, announcedPosition(d));
            Job e = queue.submit(request("e"), Job.Preview.NONE);
            assertEquals(3, queue.position(e));

            holding.release();
            for (Job j : List.of(a, c, d, e)) {
                assertEquals(Job.Status.DONE, j.done().get(60, TimeUnit.SECONDS).status(), String.valueOf(j.error()));
            }
            assertEquals(List.of("a", "c", "d", "e"), recording.started, "first in, first out; the cancelled job never ran");
            assertEquals(1, announcedPosition(a), "a was announced at place 1 before it started");
            assertEquals(0, queue.waiting());
        }
    }

    @Test
    void closeCancelsWaitingJobsAndInterruptsTheRunningOne() throws Exception {
        WebTestSupport.HoldingModel holding = new WebTestSupport.HoldingModel(generator);
        JobQueue queue = new JobQueue(ServedModel.of(holding), new OutputStore(outputs), 1, 4);
        Job running = queue.submit(request("running"), Job.Preview.NONE);
        holding.awaitStarted();
        Job waiting = queue.submit(request("waiting"), Job.Preview.NONE);
        queue.close();
        // the held job waits on a latch that is never released: only the interrupt ends it
        assertEquals(Job.Status.CANCELLED, running.done().get(30, TimeUnit.SECONDS).status());
        assertEquals(Job.Status.CANCELLED, waiting.done().get(30, TimeUnit.SECONDS).status());
        BlockingQueue<Job.Event> events = new LinkedBlockingQueue<>();
        waiting.subscribe(events::add);
        assertEquals("server shutting down", events.stream().filter(ev -> ev.name().equals("cancelled"))
                .map(ev -> ((JobEvent.Cancelled) ev.data()).message()).findFirst().orElseThrow());
        assertThrows(IllegalStateException.class, () -> queue.submit(request("late"), Job.Preview.NONE));
        queue.close();
    }

    @Test
    void rejectsNonPositiveSizes() {
        OutputStore store = new OutputStore(outputs);
        assertThrows(IllegalArgumentException.class, () -> new JobQueue(ServedModel.of(generator), store, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new JobQueue(ServedModel.of(generator), store, 1, 0));
    }

    /** A model that answers to another name: what a switch loads in these tests. */
    private static TextToImage named(String name) {
        return new WebTestSupport.ForwardingModel(generator) {
            @Override
            public String name() {
                return name;
            }
        };
    }

    @Test
    void aSwitchWaitsForEveryJobSubmittedBeforeItOnEveryWorker() throws Exception {
        WebTestSupport.HoldingModel holding = new WebTestSupport.HoldingModel(generator);
        ServedModel second = ServedModel.of(named("second-model"));
        try (JobQueue queue = new JobQueue(ServedModel.of(holding), new OutputStore(outputs), 2, 4)) {
            // two workers: a and b run (held at their first step), c waits
            List<Job> before = List.of(queue.submit(request("a"), Job.Preview.NONE),
                    queue.submit(request("b"), Job.Preview.NONE), queue.submit(request("c"), Job.Preview.NONE));
            holding.awaitStarted();
            List<String> atSwap = Collections.synchronizedList(new ArrayList<>());
            java.util.concurrent.CompletableFuture<ServedModel> switched = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return queue.model().switchModel("second-model", old -> {
                        before.forEach(j -> atSwap.add(j.request().prompt() + ":" + j.status().label()));
                        atSwap.add("old:" + old.model().name());
                        return second;
                    });
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!"second-model".equals(queue.model().switchingTo())) {
                assertTrue(System.nanoTime() < deadline, "the switch was never asked for");
                Thread.onSpinWait();
            }
            // while it is pending: an immediate submit is refused, a waiting lease gets the new model
            ResidentModel.SwitchingException refused = assertThrows(ResidentModel.SwitchingException.class,
                    () -> queue.submit(request("refused"), Job.Preview.NONE));
            assertTrue(refused.getMessage().contains("switching the model to 'second-model'"), refused.getMessage());
            java.util.concurrent.CompletableFuture<Job> after = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try (ResidentModel.Lease<ServedModel> lease = queue.model().lease(1, TimeUnit.MINUTES)) {
                    return queue.submit(lease, lease.generator().model().resolve(GenerationRequest.of("d").withSteps(1).withSeed(1), lease.generator().maxSize()),
                            Job.Preview.NONE);
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            assertFalse(switched.isDone(), "the held jobs keep the old model resident");
            assertFalse(after.isDone(), "work asked for after the switch waits for it");

            holding.release();
            assertEquals(second, switched.get(60, TimeUnit.SECONDS));
            assertEquals(List.of("a:done", "b:done", "c:done", "old:tiny-sd15"), atSwap,
                    "swapped only after every earlier job had ended, on both workers");
            Job d = after.get(60, TimeUnit.SECONDS);
            assertEquals(Job.Status.DONE, d.done().get(60, TimeUnit.SECONDS).status(), String.valueOf(d.error()));
            assertEquals("second-model", d.model());
            assertEquals("second-model", d.result().params().get("model"));
            for (Job j : before) {
                assertEquals("tiny-sd15", j.model());
                assertEquals("tiny-sd15", j.result().params().get("model"), "the sidecar records the model that made it");
            }
            assertEquals(second, queue.model().generator());
            assertEquals(null, queue.model().switchingTo());
        }
    }
}
