package dev.tenstep.web;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tenstep.pipeline.LoraCatalog;
import dev.tenstep.testing.LoraFixtures;
import io.javalin.Javalin;
import io.javalin.testtools.HttpClient;
import io.javalin.testtools.JavalinTest;
import okhttp3.Response;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static dev.tenstep.web.WebTestSupport.json;
import static dev.tenstep.web.WebTestSupport.postJson;
import static dev.tenstep.web.WebTestSupport.postJsonSlow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * LoRAs over HTTP on the tiny-sd15 fixture: A1111's {@code /sdapi/v1/loras} and {@code /refresh-loras}, {@code <lora:...>}
 * in {@code /sdapi/v1/txt2img} and the native {@code /api/txt2img} (the form's endpoint) with A1111's infotext,
 * the request errors (422 in A1111's API), the form's LoRA list and the token counter.
 */
class LoraWebTest extends TinySd15WebTest {
    private static final String SMALL = "\"width\": 64, \"height\": 64, \"steps\": 2, \"seed\": 5, \"sampler_name\": \"DDIM\"";
    private static final String PROMPT = "a photo of an astronaut riding a horse on mars";

    @TempDir
    Path loras;

    /** Runs a test against the app with a LoRA folder holding the kohya and the SD 2.x fixture files. */
    private void withLoras(TinySd15WebTest.AppTest test) throws Exception {
        for (String f : new String[] {"tiny-sd15-kohya.safetensors", "tiny-sd21-kohya.safetensors"}) {
            Files.createSymbolicLink(loras.resolve(f), LoraFixtures.file(f));
        }
        LoraCatalog catalog = new LoraCatalog(loras);
        pipeline.setLoraCatalog(catalog);
        OutputStore store = new OutputStore(outputs);
        JobQueue queue = new JobQueue(ServedModel.of(pipeline), store, 1, 16);
        try {
            Javalin app = WebApp.create(queue, store, ModelSwitcher.single(queue), catalog);
            JavalinTest.test(app, (server, client) -> test.run(client, queue, store));
        } finally {
            queue.close();
            pipeline.setLoraCatalog(null);
        }
    }

    private static JsonNode txt2img(HttpClient client, String prompt) throws Exception {
        Response r = postJsonSlow(client, "/sdapi/v1/txt2img", "{" + SMALL + ", \"prompt\": \"" + prompt + "\"}");
        String body = r.body().string();
        assertEquals(200, r.code(), body);
        return WebTestSupport.JSON.readTree(body);
    }

    private static JsonNode info(JsonNode res) throws Exception {
        return WebTestSupport.JSON.readTree(res.get("info").asText());
    }

    @Test
    void lorasAreListedAsA1111ListsThemAndRescanned() throws Exception {
        withLoras((client, queue, store) -> {
            JsonNode list = json(client.get("/sdapi/v1/loras"));
            assertEquals(2, list.size());
            JsonNode kohya = list.get(0);
            assertEquals("tiny-sd15-kohya", kohya.get("name").asText());
            assertEquals("tiny-sd15-kohya", kohya.get("alias").asText(), "ss_output_name");
            assertEquals(loras.resolve("tiny-sd15-kohya.safetensors").toAbsolutePath().toString(), kohya.get("path").asText());
            assertEquals("sd_v1", kohya.get("metadata").get("ss_base_model_version").asText());
            // A1111 parses metadata values that hold a JSON object
            assertEquals("2", kohya.get("metadata").get("ss_network_args").get("conv_dim").asText());
            assertEquals("4", kohya.get("metadata").get("ss_network_dim").asText());
            assertEquals("tiny-sd21-kohya", list.get(1).get("name").asText());

            Files.createSymbolicLink(loras.resolve("my-peft.safetensors"), LoraFixtures.file("tiny-sd15-peft.safetensors"));
            assertEquals(2, json(client.get("/sdapi/v1/loras")).size(), "listed from the last scan");
            Response refresh = postJson(client, "/sdapi/v1/refresh-loras", "");
            assertEquals(200, refresh.code());
            assertEquals("null", refresh.body().string(), "A1111 answers null");
            JsonNode after = json(client.get("/sdapi/v1/loras"));
            assertEquals(3, after.size());
            assertEquals("my-peft", after.get(0).get("name").asText());
            // the PEFT file's metadata names no ss_output_name: the alias is the name
            assertEquals("my-peft", after.get(0).get("alias").asText());
        });
    }

    @Test
    void txt2imgAppliesTheLoraAndWritesA1111sInfotext() throws Exception {
        withLoras((client, queue, store) -> {
            JsonNode base = txt2img(client, PROMPT);
            JsonNode lora = txt2img(client, PROMPT + " <lora:tiny-sd15-kohya:0.8>");
            JsonNode again = txt2img(client, PROMPT);
            JsonNode li = info(lora);
            assertEquals(PROMPT + " <lora:tiny-sd15-kohya:0.8>", li.get("prompt").asText(), "the prompt as sent, tag included");
            String infotext = li.get("infotexts").get(0).asText();
            assertTrue(infotext.endsWith(", Lora hashes: \"tiny-sd15-kohya: bbff1302ca45\""), infotext);
            assertFalse(info(base).get("infotexts").get(0).asText().contains("Lora hashes"));
            assertFalse(base.get("images").get(0).asText().equals(lora.get("images").get(0).asText()), "the LoRA changes the image");
            assertEquals(base.get("images").get(0).asText(), again.get("images").get(0).asText(),
                    "the next request without the LoRA gets the base model's image, byte for byte");
        });
    }

    @Test
    void whatCannotBeAppliedIsA422NamingIt() throws Exception {
        withLoras((client, queue, store) -> {
            for (String[] c : new String[][] {
                    {PROMPT + " <lora:nope:1>", "unknown LoRA 'nope'"},
                    {PROMPT + " <lora:tiny-sd21-kohya:1>", "'tiny-sd21-kohya' is for SD 2.x"},
                    {PROMPT + " <lora:tiny-sd15-kohya:strong>", "multiplier 'strong' is not a number"}}) {
                Response a = postJsonSlow(client, "/sdapi/v1/txt2img", "{" + SMALL + ", \"prompt\": \"" + c[0] + "\"}");
                String body = a.body().string();
                assertEquals(422, a.code(), body);
                JsonNode err = WebTestSupport.JSON.readTree(body).get("errors").get(0);
                assertEquals("prompt", err.get("field").asText(), body);
                assertTrue(err.get("message").asText().contains(c[1]), body);
                Response n = postJson(client, "/api/txt2img", "{\"steps\": 2, \"prompt\": \"" + c[0] + "\"}");
                String nb = n.body().string();
                assertEquals(400, n.code(), nb);
                assertTrue(nb.contains(c[1]), nb);
            }
            Response neg = postJson(client, "/api/txt2img", "{\"steps\": 2, \"prompt\": \"x\", \"negative_prompt\": \"<lora:tiny-sd15-kohya:1>\"}");
            assertEquals(400, neg.code());
            assertEquals("negative_prompt", json(neg).get("errors").get(0).get("field").asText());
            assertEquals(0, queue.waiting());
            assertEquals(0, store.list(1, 10).total());
        });
    }

    @Test
    void theFormListsTheLorasAndItsJobsApplyThem() throws Exception {
        withLoras((client, queue, store) -> {
            String index = client.get("/").body().string();
            assertTrue(index.contains("data-lora=\"tiny-sd15-kohya\"") && index.contains("data-lora=\"tiny-sd21-kohya\""), index);
            Response r = postJson(client, "/api/txt2img", "{\"steps\": 2, \"seed\": 3, \"prompt\": \"" + PROMPT
                    + " <lora:tiny-sd15-kohya:0.5:1>\"}");
            String body = r.body().string();
            assertEquals(202, r.code(), body);
            String id = WebTestSupport.JSON.readTree(body).get("id").asText();
            Job job = queue.get(id).orElseThrow().done().get(60, TimeUnit.SECONDS);
            assertEquals(Job.Status.DONE, job.status(), job.error());
            assertTrue(job.result().infotext().endsWith(", Lora hashes: \"tiny-sd15-kohya: bbff1302ca45\""), job.result().infotext());

            // the token counter leaves the tag out, as A1111's does
            JsonNode with = json(client.get("/api/tokenize?text=" + URLEncoder.encode("a cat <lora:tiny-sd15-kohya:1>",
                    StandardCharsets.UTF_8)));
            JsonNode without = json(client.get("/api/tokenize?text=" + URLEncoder.encode("a cat ", StandardCharsets.UTF_8)));
            assertEquals(without.get("tokens").asInt(), with.get("tokens").asInt());
            assertEquals(2, with.get("tokens").asInt());
        });
    }

    @Test
    void withoutAFolderTheListIsEmpty() {
        withApp((client, queue, store) -> {
            assertEquals(0, json(client.get("/sdapi/v1/loras")).size());
            assertEquals(200, postJson(client, "/sdapi/v1/refresh-loras", "").code());
            assertFalse(client.get("/").body().string().contains("data-lora="));
        });
    }
}
