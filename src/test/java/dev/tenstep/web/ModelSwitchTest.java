package dev.tenstep.web;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tenstep.io.ModelHash;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.GenerationResult;
import dev.tenstep.pipeline.ModelCatalog;
import dev.tenstep.pipeline.SingleFileLoader;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import dev.tenstep.pipeline.TextToImage;
import dev.tenstep.testing.Fixtures;
import io.javalin.Javalin;
import io.javalin.testtools.HttpClient;
import io.javalin.testtools.JavalinTest;
import okhttp3.Response;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static dev.tenstep.web.WebTestSupport.json;
import static dev.tenstep.web.WebTestSupport.postJson;
import static dev.tenstep.web.WebTestSupport.postJsonSlow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The model list and switch over HTTP, on a models folder of links to the fixtures: {@code tiny-sd15}
 * and {@code tiny-sd21} (diffusers folders) and {@code tiny-sd15.safetensors} (a single file whose
 * shapes match no release, so loading it without a config fails: the failed-switch case).
 */
class ModelSwitchTest {
    private static final String SD15_SHA256 = "3e4a28f7743da6c98e6662458a393dac09c89643224615ddebe9326777a1a3df";
    private static final String SMALL = "\"width\": 64, \"height\": 64, \"steps\": 2, \"seed\": 5";

    @TempDir
    Path tmp;

    /** Opens entries as serve does for files without options, and records each load and close. */
    static final class RecordingLoader implements ModelSwitcher.Loader {
        final List<String> events = Collections.synchronizedList(new ArrayList<>());

        @Override
        public ServedModel load(ModelCatalog.Entry entry) {
            events.add("load " + entry.title());
            TextToImage p = entry.kind() == ModelCatalog.Kind.FILE
                    ? SingleFileLoader.load(entry.path(), SingleFileLoader.Options.DEFAULT)
                    : StableDiffusionPipeline.load(entry.path());
            return ServedModel.owning(new WebTestSupport.ForwardingModel(p) {

                @Override
                public void close() {
                    events.add("close " + real.name());
                    super.close();
                }
            }, p.maxSize());
        }
    }

    interface SwitchTest {
        void run(HttpClient client, JobQueue queue, WebTestSupport.HoldingModel first, RecordingLoader loader)
                throws Exception;
    }

    private Path models() throws Exception {
        Path models = Files.createDirectories(tmp.resolve("models"));
        Files.createSymbolicLink(models.resolve("tiny-sd15"), Fixtures.dir(Fixtures.SD15));
        Files.createSymbolicLink(models.resolve("tiny-sd21"), Fixtures.dir(Fixtures.SD21));
        Files.createSymbolicLink(models.resolve("tiny-sd15.safetensors"), Fixtures.root().resolve("single-file/tiny-sd15.safetensors"));
        return models;
    }

    /** Serves the tiny-sd15 folder of the catalog, its generations held at the first step until released. */
    private void withServer(SwitchTest test) throws Exception {
        ModelCatalog catalog = new ModelCatalog(models());
        ModelCatalog.Entry sd15 = catalog.find("tiny-sd15").orElseThrow();
        RecordingLoader loader = new RecordingLoader();
        ServedModel loaded = loader.load(sd15);
        WebTestSupport.HoldingModel first = new WebTestSupport.HoldingModel(loaded.model());
        first.hold = false;
        OutputStore store = new OutputStore(Files.createDirectories(tmp.resolve("outputs")));
        JobQueue queue = new JobQueue(ServedModel.owning(first, loaded.maxSize()), store, 1, 8);
        ModelSwitcher switcher = new ModelSwitcher(queue, catalog, loader, sd15);
        try {
            Javalin app = WebApp.create(queue, store, switcher);
            JavalinTest.test(app, (server, client) -> test.run(client, queue, first, loader));
        } finally {
            queue.close();
            switcher.close();
        }
    }

    private static JsonNode finished(JobQueue queue, String id) throws Exception {
        Job job = queue.get(id).orElseThrow().done().get(60, TimeUnit.SECONDS);
        assertEquals(Job.Status.DONE, job.status(), String.valueOf(job.error()));
        return WebTestSupport.JSON.valueToTree(job.toJson(0));
    }

    private static String submit(HttpClient client) throws Exception {
        Response r = postJson(client, "/api/txt2img", "{\"prompt\": \"a red cube\", " + SMALL + "}");
        String body = r.body().string();
        assertEquals(202, r.code(), body);
        return WebTestSupport.JSON.readTree(body).get("id").asText();
    }

    @Test
    void sdModelsListsTheCatalogAndRefreshRescans() throws Exception {
        withServer((client, queue, first, loader) -> {
            JsonNode list = json(client.get("/sdapi/v1/sd-models"));
            assertEquals(3, list.size(), list.toString());
            JsonNode folder = list.get(0);
            assertEquals("tiny-sd15", folder.get("title").asText());
            assertEquals("tiny-sd15", folder.get("model_name").asText());
            assertTrue(folder.get("hash").isNull() && folder.get("sha256").isNull() && folder.get("config").isNull());
            assertEquals(tmp.resolve("models/tiny-sd15").toAbsolutePath().toString(), folder.get("filename").asText());
            JsonNode file = list.get(1);
            assertEquals("tiny-sd15.safetensors", file.get("title").asText(), "no hash cached yet: none computed for a list");
            assertEquals("tiny-sd15", file.get("model_name").asText());
            assertTrue(file.get("hash").isNull() && file.get("sha256").isNull());
            assertEquals(tmp.resolve("models/tiny-sd15.safetensors").toAbsolutePath().toString(), file.get("filename").asText());
            assertEquals("tiny-sd21", list.get(2).get("title").asText());

            // the hash cached beside the file (as a load of it writes it) appears after a rescan
            ModelHash.sha256(tmp.resolve("models/tiny-sd15.safetensors"), null);
            assertEquals(200, postJson(client, "/sdapi/v1/refresh-checkpoints", "").code());
            JsonNode hashed = json(client.get("/sdapi/v1/sd-models")).get(1);
            assertEquals("tiny-sd15.safetensors [3e4a28f774]", hashed.get("title").asText());
            assertEquals("3e4a28f774", hashed.get("hash").asText());
            assertEquals(SD15_SHA256, hashed.get("sha256").asText());

            JsonNode info = json(client.get("/api/info"));
            assertEquals("tiny-sd15", info.get("model").asText());
            assertEquals("tiny-sd15", info.get("model_title").asText());
            assertTrue(info.get("switching_to").isNull());
            assertEquals(List.of("tiny-sd15", "tiny-sd15.safetensors [3e4a28f774]", "tiny-sd21"),
                    titles(info.get("models")));
            assertEquals("file", info.get("models").get(1).get("kind").asText());
            assertEquals(List.of("SD 1.x", "SD 1.x", "SD 2.x"), families(info.get("models")), "the listing's family labels");

            // the picker: a labelled select listing the catalog, the resident model selected
            String index = client.get("/").body().string();
            assertTrue(index.contains("<label for=\"model-picker\">Model</label>"), index);
            assertTrue(index.matches("(?s).*<option value=\"tiny-sd15\" selected=\"selected\">tiny-sd15 \\(SD 1.x\\)</option>.*"), index);
            assertTrue(index.contains("<option value=\"tiny-sd21\">tiny-sd21 (SD 2.x)</option>"), index);
            assertTrue(index.contains("id=\"model-status\" class=\"model-status\" role=\"status\" aria-live=\"polite\""), index);
        });
    }

    private static List<String> families(JsonNode models) {
        List<String> l = new ArrayList<>();
        models.forEach(m -> l.add(m.get("family").asText()));
        return l;
    }

    private static List<String> titles(JsonNode models) {
        List<String> l = new ArrayList<>();
        models.forEach(m -> l.add(m.get("title").asText()));
        return l;
    }

    @Test
    void optionsSwitchTheModelAfterTheJobsQueuedBefore() throws Exception {
        withServer((client, queue, first, loader) -> {
            first.hold = true;
            String running = submit(client);
            first.awaitStarted();
            String waiting = submit(client);

            CompletableFuture<Response> switching = CompletableFuture.supplyAsync(() -> call(() ->
                    postJsonSlow(client, "/sdapi/v1/options", "{\"sd_model_checkpoint\": \"tiny-sd21\", \"CLIP_stop_at_last_layers\": 2}")));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!"tiny-sd21".equals(queue.model().switchingTo())) {
                assertTrue(System.nanoTime() < deadline, "the switch was never asked for");
                Thread.onSpinWait();
            }
            // pending: the page's API refuses new jobs (503), the synchronous A1111 call waits for the new model
            assertEquals("tiny-sd21", json(client.get("/api/info")).get("switching_to").asText());
            Response refused = postJson(client, "/api/txt2img", "{\"prompt\": \"x\", " + SMALL + "}");
            String refusedBody = refused.body().string();
            assertEquals(503, refused.code(), refusedBody);
            assertTrue(refusedBody.contains("switching the model to 'tiny-sd21'"), refusedBody);
            CompletableFuture<Response> a1111 = CompletableFuture.supplyAsync(() -> call(() ->
                    postJsonSlow(client, "/sdapi/v1/txt2img", "{\"prompt\": \"after\", " + SMALL + "}")));
            assertFalse(switching.isDone(), "the running job keeps the old model resident");
            assertEquals(List.of("load tiny-sd15"), loader.events, "nothing closed or loaded before the queued jobs end");

            first.release();
            Response switched = switching.get(120, TimeUnit.SECONDS);
            assertEquals(200, switched.code(), switched.body().string());
            for (String id : List.of(running, waiting)) {
                JsonNode job = finished(queue, id);
                assertEquals("tiny-sd15", job.get("model").asText(), "queued before the switch: the old model");
                assertEquals("tiny-sd15", job.get("result").get("model").asText());
                assertTrue(job.get("result").get("infotext").asText().contains("Model: tiny-sd15"),
                        job.get("result").get("infotext").asText());
            }
            assertEquals(List.of("load tiny-sd15", "close tiny-sd15", "load tiny-sd21"), loader.events,
                    "one model resident: the old one closed before the new one loaded");

            JsonNode options = json(client.get("/sdapi/v1/options"));
            assertEquals("tiny-sd21", options.get("sd_model_checkpoint").asText());
            assertEquals(2, options.get("CLIP_stop_at_last_layers").asInt(), "the call's other settings applied too");
            Response after = a1111.get(120, TimeUnit.SECONDS);
            String afterBody = after.body().string();
            assertEquals(200, after.code(), afterBody);
            JsonNode info = WebTestSupport.JSON.readTree(WebTestSupport.JSON.readTree(afterBody).get("info").asText());
            assertEquals("tiny-sd21", info.get("sd_model_name").asText(), "asked for during the switch: the new model");
            JsonNode next = finished(queue, submit(client));
            assertEquals("tiny-sd21", next.get("model").asText());
            assertEquals("tiny-sd21", next.get("result").get("model").asText());
            assertEquals(48, json(client.get("/api/info")).get("default_size").asInt(), "tiny-sd21: sample_size 24 x VAE scale 2");

            // naming the loaded model again changes nothing and does not wait
            assertEquals(200, postJson(client, "/sdapi/v1/options", "{\"sd_model_checkpoint\": \"tiny-sd21\"}").code());
            assertEquals(3, loader.events.size());
            // a request naming another model does not switch: 422 naming the field
            Response other = postJson(client, "/sdapi/v1/txt2img", "{" + SMALL + ", \"override_settings\": "
                    + "{\"sd_model_checkpoint\": \"tiny-sd15\"}}");
            String otherBody = other.body().string();
            assertEquals(422, other.code(), otherBody);
            assertTrue(otherBody.contains("override_settings.sd_model_checkpoint") && otherBody.contains("is not the loaded model"),
                    otherBody);

            // the page's endpoint switches back
            Response back = postJsonSlow(client, "/api/model", "{\"model\": \"tiny-sd15\"}");
            String backBody = back.body().string();
            assertEquals(200, back.code(), backBody);
            assertEquals("tiny-sd15", WebTestSupport.JSON.readTree(backBody).get("model").asText());
            assertEquals("tiny-sd15", json(client.get("/api/info")).get("model").asText());
        });
    }

    @Test
    void unknownCheckpointIs422AndAFailedLoadKeepsTheOldModel() throws Exception {
        withServer((client, queue, first, loader) -> {
            Response unknown = postJson(client, "/sdapi/v1/options", "{\"sd_model_checkpoint\": \"v1-5-pruned-emaonly.safetensors\"}");
            String body = unknown.body().string();
            assertEquals(422, unknown.code(), body);
            assertTrue(body.contains("options.sd_model_checkpoint") && body.contains("unknown checkpoint 'v1-5-pruned-emaonly.safetensors'")
                    && body.contains("'tiny-sd21'"), body);
            Response unknownPage = postJson(client, "/api/model", "{\"model\": \"nope\"}");
            String pageBody = unknownPage.body().string();
            assertEquals(400, unknownPage.code(), pageBody);
            assertTrue(pageBody.contains("\"field\":\"model\""), pageBody);
            assertEquals(List.of("load tiny-sd15"), loader.events);

            // the single file's shapes match no release and serve gives no --config for it: the load fails
            Response failed = postJsonSlow(client, "/sdapi/v1/options",
                    "{\"sd_model_checkpoint\": \"tiny-sd15.safetensors\", \"CLIP_stop_at_last_layers\": 2}");
            String failedBody = failed.body().string();
            assertEquals(500, failed.code(), failedBody);
            assertTrue(failedBody.contains("could not load 'tiny-sd15.safetensors'") && failedBody.contains("--config")
                    && failedBody.contains("still serving 'tiny-sd15'"), failedBody);
            assertEquals(List.of("load tiny-sd15", "close tiny-sd15", "load tiny-sd15.safetensors", "load tiny-sd15"),
                    loader.events, "closed, the new one failed, the old one loaded again");
            JsonNode options = json(client.get("/sdapi/v1/options"));
            assertEquals("tiny-sd15", options.get("sd_model_checkpoint").asText());
            assertEquals(1, options.get("CLIP_stop_at_last_layers").asInt(), "a failed call changes no setting");
            JsonNode job = finished(queue, submit(client));
            assertEquals("tiny-sd15", job.get("result").get("model").asText(), "the server serves on");
        });
    }

    @Test
    void aModelDeletedSinceTheScanIsAnUnknownCheckpoint() throws Exception {
        withServer((client, queue, first, loader) -> {
            Path zero = Files.createFile(tmp.resolve("models/zero.ckpt"));
            assertEquals(200, postJson(client, "/sdapi/v1/refresh-checkpoints", "").code());
            assertTrue(titles(json(client.get("/sdapi/v1/sd-models"))).contains("zero.ckpt"));
            Files.delete(zero);

            Response r = postJsonSlow(client, "/sdapi/v1/options", "{\"sd_model_checkpoint\": \"zero.ckpt\"}");
            String body = r.body().string();
            assertEquals(422, r.code(), body);
            assertTrue(body.contains("options.sd_model_checkpoint") && body.contains("unknown checkpoint 'zero.ckpt'")
                    && !body.contains("not found"), body);
            assertFalse(titles(json(client.get("/sdapi/v1/sd-models"))).contains("zero.ckpt"), "the switch rescanned");
            Response page = postJson(client, "/api/model", "{\"model\": \"zero.ckpt\"}");
            String pageBody = page.body().string();
            assertEquals(400, page.code(), pageBody);
            assertTrue(pageBody.contains("\"field\":\"model\"") && pageBody.contains("unknown checkpoint 'zero.ckpt'"), pageBody);
            assertEquals(List.of("load tiny-sd15"), loader.events, "nothing closed or loaded");
        });
    }

    @Test
    void aCorruptFileFailsWithTheFirstLineOfItsError() throws Exception {
        withServer((client, queue, first, loader) -> {
            Files.createFile(tmp.resolve("models/empty.ckpt"));
            Response r = postJsonSlow(client, "/sdapi/v1/options", "{\"sd_model_checkpoint\": \"empty.ckpt\"}");
            String body = r.body().string();
            assertEquals(500, r.code(), body);
            String message = WebTestSupport.JSON.readTree(body).get("error").asText();
            assertTrue(message.startsWith("could not load 'empty.ckpt': ") && message.endsWith("; still serving 'tiny-sd15'")
                    && !message.contains("\n") && !message.contains("--config"), message);
            assertEquals(List.of("load tiny-sd15", "close tiny-sd15", "load empty.ckpt", "load tiny-sd15"), loader.events);
        });
        // only the shapes-match-no-release failure is one a config folder fixes (serve points at --config for it)
        ModelLoadException empty = org.junit.jupiter.api.Assertions.assertThrows(ModelLoadException.class,
                () -> SingleFileLoader.load(tmp.resolve("models/empty.ckpt"), SingleFileLoader.Options.DEFAULT));
        assertFalse(empty.needsConfig(), empty.getMessage());
        ModelLoadException shapes = org.junit.jupiter.api.Assertions.assertThrows(ModelLoadException.class,
                () -> SingleFileLoader.load(Fixtures.writableCopy("single-file/tiny-sd15.safetensors"),
                        SingleFileLoader.Options.DEFAULT));
        assertTrue(shapes.needsConfig() && shapes.getMessage().contains("--config"), shapes.getMessage());
        assertTrue(new ModelLoadException("wrapped", shapes).needsConfig(), "a wrapper keeps the flag");
    }

    interface Call {
        Response call() throws Exception;
    }

    private static Response call(Call c) {
        try {
            return c.call();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
