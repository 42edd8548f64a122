package dev.tenstep.web;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tenstep.pipeline.StepProgress;
import io.javalin.testtools.HttpClient;
import okhttp3.Response;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static dev.tenstep.web.WebTestSupport.json;
import static dev.tenstep.web.WebTestSupport.postJson;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code /sdapi/v1/progress} ({@code current_image}, {@code eta_relative}), {@code /skip} and {@code /interrupt}
 * against txt2img calls of several images, on the tiny-sd15 fixture (64 x 64, 2 steps) with every generation held
 * after its first step ({@link WebTestSupport.GateModel}).
 */
class A1111ProgressTest extends TinySd15WebTest {

    interface GateTest {
        void run(HttpClient client, JobQueue queue, WebTestSupport.GateModel gate) throws Exception;
    }

    private void withGate(GateTest test) {
        WebTestSupport.GateModel gate = new WebTestSupport.GateModel(generator);
        withApp(gate, 16, (client, queue, store) -> test.run(client, queue, gate));
    }

    /** Posts a txt2img call of {@code images} images (seeds 5, 6, ...) on another thread; its body once it answers. */
    private static CompletableFuture<JsonNode> txt2img(HttpClient client, int images) {
        String body = "{\"width\": 64, \"height\": 64, \"steps\": 2, \"seed\": 5, \"n_iter\": " + images + "}";
        return CompletableFuture.supplyAsync(() -> {
            try (Response r = WebTestSupport.postJsonSlow(client, "/sdapi/v1/txt2img", body)) {
                String text = r.body().string();
                assertEquals(200, r.code(), text);
                return WebTestSupport.JSON.readTree(text);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    private static JsonNode info(JsonNode res) throws Exception {
        return WebTestSupport.JSON.readTree(res.get("info").asText());
    }

    private static List<Long> seeds(JsonNode res) throws Exception {
        List<Long> l = new ArrayList<>();
        info(res).get("all_seeds").forEach(n -> l.add(n.asLong()));
        return l;
    }

    @Test
    void progressHasTheCurrentImageOfTheRunningStep() {
        withGate((client, queue, gate) -> {
            CompletableFuture<JsonNode> call = txt2img(client, 1);
            assertEquals(5, gate.awaitArrival());
            Job job = queue.runningJobs().get(0);
            StepProgress last = job.lastStep();
            assertNotNull(last, "the running job keeps its last step");
            JsonNode p = json(client.get("/sdapi/v1/progress"));
            assertEquals(1, p.get("state").get("sampling_step").asInt());
            assertEquals(2, p.get("state").get("sampling_steps").asInt());
            assertEquals(0.5, p.get("progress").asDouble());
            assertTrue(p.get("eta_relative").asDouble() >= 0);
            byte[] png = Base64.getDecoder().decode(p.get("current_image").asText());
            BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
            assertEquals(64 / generator.sizeMultiple(), last.width(), "latent width: 64 px / the VAE scale");
            assertEquals(last.width(), img.getWidth(), "the cheap preview: one pixel per latent pixel");
            assertEquals(last.height(), img.getHeight());
            String expected = JobRunner.dataUrl(generator.preview(last, false));
            assertArrayEquals(Base64.getDecoder().decode(expected.substring(expected.indexOf(',') + 1)), png,
                    "the approximate preview of the step's x0-hat");
            JsonNode again = json(client.get("/sdapi/v1/progress"));
            assertEquals(p.get("current_image").asText(), again.get("current_image").asText());
            JsonNode skipped = json(client.get("/sdapi/v1/progress?skip_current_image=true"));
            assertTrue(skipped.get("current_image").isNull(), "skip_current_image=true leaves it out");
            assertEquals(1, skipped.get("state").get("sampling_step").asInt());

            gate.pass();
            JsonNode res = call.get(5, TimeUnit.MINUTES);
            assertEquals(1, res.get("images").size());
            assertNull(job.lastStep(), "a finished job drops its latent");
            assertTrue(json(client.get("/sdapi/v1/progress")).get("current_image").isNull(), "nothing runs");
        });
    }

    @Test
    void progressReportsTheWholeCallAndStaysActiveBetweenItsImages() {
        withGate((client, queue, gate) -> {
            CompletableFuture<JsonNode> call = txt2img(client, 2);
            assertEquals(5, gate.awaitArrival());
            JsonNode p = json(client.get("/sdapi/v1/progress"));
            assertEquals(0, p.get("state").get("job_no").asInt(), "the call's first image");
            assertEquals(2, p.get("state").get("job_count").asInt(), "the call's two images");
            assertEquals(0.25, p.get("progress").asDouble(), 1e-12, "(0 images + step 1 of 2) / 2 images");
            // a native job queued now runs before the call's second image, which is queued only when the first ends:
            // while it runs (held at the gate), the call is between its images and no job of it runs
            Job other = queue.submit(generator.resolve(dev.tenstep.pipeline.GenerationRequest.of("b")
                    .withSize(64, 64).withSteps(2).withSeed(40)), Job.Preview.NONE);
            gate.pass();
            assertEquals(40, gate.awaitArrival());
            JsonNode between = json(client.get("/sdapi/v1/progress"));
            assertEquals(1, between.get("state").get("job_no").asInt(), "the call's second image is next");
            assertEquals(3, between.get("state").get("job_count").asInt(), "the call's two images and the other job");
            assertEquals(0.5, between.get("progress").asDouble(), 1e-12, "1 of 2 images done, the next not begun");
            assertEquals(0, between.get("state").get("sampling_step").asInt());
            assertTrue(between.get("eta_relative").asDouble() > 0, "half done: as long again");
            assertTrue(between.get("current_image").isNull(), "no image of the call runs");
            assertTrue(!between.get("state").get("job").asText().isEmpty());
            gate.pass();
            other.done().get(5, TimeUnit.MINUTES);
            assertEquals(6, gate.awaitArrival());
            JsonNode second = json(client.get("/sdapi/v1/progress"));
            assertEquals(1, second.get("state").get("job_no").asInt());
            assertEquals(2, second.get("state").get("job_count").asInt());
            assertEquals(0.75, second.get("progress").asDouble(), 1e-12, "(1 image + step 1 of 2) / 2 images");
            assertEquals(1, second.get("state").get("sampling_step").asInt());
            gate.pass();
            assertEquals(2, call.get(5, TimeUnit.MINUTES).get("images").size());
            JsonNode idle = json(client.get("/sdapi/v1/progress"));
            assertEquals(0, idle.get("state").get("job_count").asInt(), "the call has answered: idle");
            assertEquals(0.0, idle.get("progress").asDouble());
            assertEquals(List.of(), gate.pending());
        });
    }

    @Test
    void etaCountsFromTheJobStartNotFromQueueing() {
        Instant t0 = Instant.parse("2026-01-01T00:00:00Z");
        assertEquals(40.0, A1111Extras.eta(t0, t0.plusSeconds(10), 2, 10), 1e-9, "10 s for 2 steps: 8 more take 40 s");
        assertEquals(0.0, A1111Extras.eta(t0, t0.plusSeconds(10), 0, 10), "no step yet: no estimate");
        assertEquals(0.0, A1111Extras.eta(null, t0, 1, 10), "not started");
        assertEquals(30.0, A1111Extras.callEta(t0, t0.plusSeconds(10), 0.25), 1e-9, "a quarter in 10 s: 30 s more");
        assertEquals(0.0, A1111Extras.callEta(t0, t0.plusSeconds(10), 0), "no progress yet: no estimate");
        withGate((client, queue, gate) -> {
            Job first = queue.submit(generator.resolve(dev.tenstep.pipeline.GenerationRequest.of("a")
                    .withSize(64, 64).withSteps(2).withSeed(1)), Job.Preview.NONE);
            assertEquals(1, gate.awaitArrival());
            Job second = queue.submit(generator.resolve(dev.tenstep.pipeline.GenerationRequest.of("b")
                    .withSize(64, 64).withSteps(2).withSeed(2)), Job.Preview.NONE);
            assertNotNull(first.started());
            assertNull(second.started(), "waiting: not started");
            Instant released = Instant.now();
            gate.pass();
            assertEquals(2, gate.awaitArrival());
            assertTrue(!second.created().isAfter(released) && !second.started().isBefore(released),
                    "the start is when a worker took the job, after its time in the queue");
            gate.pass();
            second.done().get(5, TimeUnit.MINUTES);
            assertEquals(Job.Status.DONE, second.status());
        });
    }

    @Test
    void skipEndsTheRunningImageAndTheCallGoesOn() {
        withGate((client, queue, gate) -> {
            CompletableFuture<JsonNode> call = txt2img(client, 3);
            assertEquals(5, gate.awaitArrival());
            assertEquals(200, postJson(client, "/sdapi/v1/skip", "{}").code());
            assertEquals(6, gate.awaitArrival(), "the call goes on with its next image");
            gate.pass();
            assertEquals(7, gate.awaitArrival());
            gate.pass();
            JsonNode res = call.get(5, TimeUnit.MINUTES);
            assertEquals(2, res.get("images").size(), "the skipped image is left out");
            assertEquals(List.of(6L, 7L), seeds(res));
            assertEquals(6, info(res).get("seed").asLong(), "the seed of the first image returned");
            assertEquals(2, info(res).get("infotexts").size());
            assertTrue(info(res).get("infotexts").get(0).asText().contains("Seed: 6"));
        });
    }

    @Test
    void interruptEndsTheCallWithTheImagesDoneAndLeavesOtherWork() {
        withGate((client, queue, gate) -> {
            CompletableFuture<JsonNode> call = txt2img(client, 3);
            assertEquals(5, gate.awaitArrival());
            gate.pass();
            assertEquals(6, gate.awaitArrival());
            // another client's job waits behind the call's second image
            Response other = postJson(client, "/api/txt2img", "{\"width\": 64, \"height\": 64, \"steps\": 2, \"seed\": 40}");
            assertEquals(202, other.code());
            String otherId = json(other).get("id").asText();
            Job waiting = queue.get(otherId).orElseThrow();

            assertEquals(200, postJson(client, "/sdapi/v1/interrupt", "{}").code());
            JsonNode res = call.get(5, TimeUnit.MINUTES);
            assertEquals(1, res.get("images").size(), "A1111 answers an interrupted call with the images it finished");
            assertEquals(List.of(5L), seeds(res));

            assertEquals(40, gate.awaitArrival(), "a job waiting outside the call still runs; the call's third image never");
            gate.pass();
            waiting.done().get(5, TimeUnit.MINUTES);
            assertEquals(Job.Status.DONE, waiting.status());
            assertEquals(List.of(), gate.pending());
            assertEquals(0, queue.waiting());
            assertTrue(queue.runningJobs().isEmpty());
        });
    }
}
