package dev.tenstep.web;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tenstep.pipeline.prompt.A1111ConditioningTestWords;
import io.javalin.testtools.HttpClient;
import okhttp3.Response;
import org.junit.jupiter.api.Test;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static dev.tenstep.web.WebTestSupport.json;
import static dev.tenstep.web.WebTestSupport.postJson;
import static dev.tenstep.web.WebTestSupport.postJsonSlow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Issue 10's failures 2-5, 7 and 8 over HTTP, each with its small input, on the tiny-sd15 fixture. */
class A1111ApiTest extends TinySd15WebTest {

    private static final String SMALL = "\"width\": 64, \"height\": 64, \"steps\": 2, \"seed\": 5";

    private static JsonNode txt2img(HttpClient client, String fields) throws Exception {
        Response r = postJsonSlow(client, "/sdapi/v1/txt2img", "{" + SMALL + (fields.isEmpty() ? "" : ", " + fields) + "}");
        String body = r.body().string();
        assertEquals(200, r.code(), body);
        return WebTestSupport.JSON.readTree(body);
    }

    private static JsonNode info(JsonNode res) throws Exception {
        return WebTestSupport.JSON.readTree(res.get("info").asText());
    }

    @Test
    void samplerIndexSelectsTheSampler() {
        // failure 3: older clients send sampler_index
        withApp((client, queue, store) -> {
            JsonNode res = txt2img(client, "\"sampler_index\": \"DDIM\"");
            assertEquals("DDIM", info(res).get("sampler_name").asText());
            assertTrue(info(res).get("infotexts").get(0).asText().contains("Sampler: DDIM"));
        });
    }

    /** A prompt the A1111 syntax cannot read is a request error on both APIs, before anything is queued. */
    @Test
    void unreadablePromptIsRefusedNamingTheField() {
        withApp((client, queue, store) -> {
            String prompt = "\"prompt\": \"a (x:1.2.3) cube\"";
            Response a = postJsonSlow(client, "/sdapi/v1/txt2img", "{" + SMALL + ", " + prompt + "}");
            String body = a.body().string();
            assertEquals(422, a.code(), body);
            JsonNode err = WebTestSupport.JSON.readTree(body).get("errors").get(0);
            assertEquals("prompt", err.get("field").asText());
            assertTrue(err.get("message").asText().startsWith("emphasis weight '1.2.3'"), body);
            Response n = postJsonSlow(client, "/api/txt2img", "{" + SMALL + ", " + prompt + "}");
            String nb = n.body().string();
            assertEquals(400, n.code(), nb);
            assertTrue(nb.contains("\"field\":\"prompt\""), nb);
            assertEquals(0, queue.waiting());
            assertEquals(0, store.list(1, 10).total());
        });
    }

    @Test
    void unsavedImagesAreAnsweredFromMemory() {
        // save_images false (A1111's default): the PNG is encoded in memory, nothing is written, read back or deleted,
        // so the call works even where the outputs folder cannot be written (it used to fail with a 500 here)
        withApp((client, queue, store) -> {
            Files.delete(outputs);
            Files.writeString(outputs, "not a folder");
            JsonNode res = txt2img(client, "\"save_images\": false");
            assertEquals(1, res.get("images").size());
            byte[] png = java.util.Base64.getDecoder().decode(res.get("images").get(0).asText());
            assertEquals(64, javax.imageio.ImageIO.read(new java.io.ByteArrayInputStream(png)).getWidth());
            assertEquals(info(res).get("infotexts").get(0).asText(), dev.tenstep.io.PngImages.readText(
                    new java.io.ByteArrayInputStream(png)).get(dev.tenstep.io.PngImages.PARAMETERS), "infotext in the PNG");
            assertEquals("not a folder", Files.readString(outputs), "the outputs path was not touched");
            Files.delete(outputs);
            Files.createDirectory(outputs);
        });
    }

    @Test
    void sendAndSaveImagesAreHonoured() {
        // failure 4: send_images false returns no image; save_images false (A1111's default) leaves no file
        withApp((client, queue, store) -> {
            JsonNode res = txt2img(client, "\"send_images\": false");
            assertEquals(0, res.get("images").size());
            assertEquals(0, store.list(1, 10).total());
            JsonNode saved = txt2img(client, "\"save_images\": true");
            assertEquals(1, saved.get("images").size());
            assertEquals(1, store.list(1, 10).total());
        });
    }

    @Test
    void overrideSettingsAreAppliedOrRefused() {
        // failure 5
        withApp((client, queue, store) -> {
            JsonNode skip = txt2img(client, "\"override_settings\": {\"CLIP_stop_at_last_layers\": 2}");
            assertTrue(info(skip).get("infotexts").get(0).asText().contains("Clip skip: 2"));
            // restored afterwards by default
            assertEquals(1, json(client.get("/sdapi/v1/options")).get("CLIP_stop_at_last_layers").asInt());
            JsonNode same = txt2img(client, "\"override_settings\": {\"sd_model_checkpoint\": \"" + pipeline.name() + "\"}");
            assertEquals(1, same.get("images").size());
            Map<String, String> refused = Map.of(
                    "\"override_settings\": {\"sd_model_checkpoint\": \"other\"}", "override_settings.sd_model_checkpoint",
                    "\"enable_hr\": true, \"hr_upscaler\": \"R-ESRGAN 4x+\"", "hr_upscaler",
                    "\"restore_faces\": true", "restore_faces",
                    "\"styles\": [\"cinematic\"]", "styles");
            for (Map.Entry<String, String> c : refused.entrySet()) {
                Response r = postJson(client, "/sdapi/v1/txt2img", "{" + SMALL + ", " + c.getKey() + "}");
                String body = r.body().string();
                assertEquals(422, r.code(), c.getKey() + " " + body);
                assertTrue(body.contains(c.getValue()), body);
            }
            // no-op values are accepted
            JsonNode noop = txt2img(client, "\"enable_hr\": false, \"restore_faces\": false, \"styles\": [], "
                    + "\"override_settings_restore_afterwards\": true");
            assertEquals(1, noop.get("images").size());
        });
    }

    /** A --vae the server started with is named by /sdapi/v1/options (sd_vae) and listed by /sdapi/v1/sd-vae. */
    @Test
    void aVaeOverrideIsNamedInOptionsAndListed() {
        withApp(generator, 16, (client, queue, store) -> {
            assertEquals("Automatic", json(client.get("/sdapi/v1/options")).get("sd_vae").asText());
            assertEquals(0, json(client.get("/sdapi/v1/sd-vae")).size());
        });
        Path vae = outputs.resolveSibling("vae-ft-mse.vae.safetensors").toAbsolutePath();
        dev.tenstep.pipeline.TextToImage withVae = new WebTestSupport.ForwardingModel(generator) {
            @Override
            public Path vaeFile() {
                return vae;
            }
        };
        withApp(withVae, 16, (client, queue, store) -> {
            assertEquals("vae-ft-mse.vae.safetensors", json(client.get("/sdapi/v1/options")).get("sd_vae").asText());
            JsonNode list = json(client.get("/sdapi/v1/sd-vae"));
            assertEquals(1, list.size(), list.toString());
            assertEquals("vae-ft-mse.vae.safetensors", list.get(0).get("model_name").asText());
            assertEquals(vae.toString(), list.get(0).get("filename").asText());
        });
    }

    @Test
    void optionsProgressInterruptSkipSchedulersAnswer() {
        // failure 8
        withApp((client, queue, store) -> {
            JsonNode options = json(client.get("/sdapi/v1/options"));
            assertEquals(pipeline.name(), options.get("sd_model_checkpoint").asText());
            assertEquals("GPU", options.get("randn_source").asText());
            // more layers than the model's text encoder has: refused here, naming the setting
            Response tooDeep = postJson(client, "/sdapi/v1/options", "{\"CLIP_stop_at_last_layers\": 4}");
            String tooDeepBody = tooDeep.body().string();
            assertEquals(422, tooDeep.code(), tooDeepBody);
            assertTrue(tooDeepBody.contains("options.CLIP_stop_at_last_layers") && tooDeepBody.contains("from 1 to 3"),
                    tooDeepBody);
            Response set = postJson(client, "/sdapi/v1/options", "{\"CLIP_stop_at_last_layers\": 2, \"randn_source\": \"CPU\"}");
            assertEquals(200, set.code());
            JsonNode after = json(client.get("/sdapi/v1/options"));
            assertEquals(2, after.get("CLIP_stop_at_last_layers").asInt());
            assertEquals("CPU", after.get("randn_source").asText());
            JsonNode res = txt2img(client, "");
            String infotext = info(res).get("infotexts").get(0).asText();
            assertTrue(infotext.contains("Clip skip: 2") && infotext.contains("RNG: CPU"), infotext);
            assertEquals(422, postJson(client, "/sdapi/v1/options", "{\"sd_model_checkpoint\": \"other\"}").code());
            JsonNode progress = json(client.get("/sdapi/v1/progress"));
            assertEquals(0.0, progress.get("progress").asDouble());
            assertEquals(0, progress.get("state").get("job_count").asInt());
            assertTrue(progress.get("state").has("sampling_steps"));
            assertEquals(200, postJson(client, "/sdapi/v1/interrupt", "{}").code());
            assertEquals(200, postJson(client, "/sdapi/v1/skip", "{}").code());
            JsonNode schedulers = json(client.get("/sdapi/v1/schedulers"));
            assertTrue(schedulers.size() >= 2);
            JsonNode karras = null;
            for (JsonNode sch : schedulers) {
                assertTrue(sch.has("name") && sch.has("label") && sch.get("aliases").isArray() && sch.has("default_rho")
                        && sch.has("need_inner_model"), sch.toString());
                if (sch.get("name").asText().equals("karras")) {
                    karras = sch;
                }
            }
            assertEquals("Karras", karras.get("label").asText(), "A1111's label where A1111 has the same schedule");
            assertEquals(7.0, karras.get("default_rho").asDouble());
            // A1111's Exponential is not log-linear-continuous: refused, not run as it
            Response exp = postJson(client, "/sdapi/v1/txt2img", "{\"steps\": 2, \"width\": 64, \"height\": 64, "
                    + "\"scheduler\": \"Exponential\"}");
            assertEquals(422, exp.code());
            assertEquals("scheduler", json(exp).get("errors").get(0).get("field").asText());
            assertEquals(200, client.get("/sdapi/v1/sd-vae").code());
        });
    }

    @Test
    void longPromptIsNotCutAndTheNoticeReachesTheApi() {
        // failure 2: a 150-token prompt, 2 chunks, the notice in A1111's info and in the job JSON
        withApp((client, queue, store) -> {
            JsonNode res = txt2img(client, "\"prompt\": \"" + A1111ConditioningTestWords.LONG + "\"");
            JsonNode warnings = info(res).get("warnings");
            assertEquals(1, warnings.size(), warnings.toString());
            assertTrue(warnings.get(0).asText().contains("2 chunks"));
            JsonNode tok = json(client.get("/api/tokenize?text=" + URLEncoder.encode(A1111ConditioningTestWords.LONG,
                    StandardCharsets.UTF_8)));
            assertEquals(150, tok.get("tokens").asInt());
            assertEquals(2, tok.get("chunks").asInt());
            assertEquals("150/150", tok.get("label").asText());
            JsonNode emph = json(client.get("/api/tokenize?text=" + URLEncoder.encode("a (red:1.5) apple", StandardCharsets.UTF_8)));
            assertEquals(3, emph.get("tokens").asInt());
            // prompt editing: the longer of the texts the prompt takes counts (A1111's counter), not the brackets
            JsonNode edit = json(client.get("/api/tokenize?text=" + URLEncoder.encode("[dog:cat:4]", StandardCharsets.UTF_8)));
            assertEquals(1, edit.get("tokens").asInt());
            JsonNode plain = json(client.get("/api/tokenize?prompt_syntax=plain&text=" + URLEncoder.encode("(a cat)",
                    StandardCharsets.UTF_8)));
            assertEquals(4, plain.get("tokens").asInt(), "plain syntax counts the brackets");
            assertEquals(400, client.get("/api/tokenize?prompt_syntax=bogus&text=a").code());
            assertTrue(client.get("/").body().string().contains("id=\"prompt_tokens\""), "token count under the prompt box");
            // the native API: the notice is in the job JSON and on the result page
            Response sub = postJson(client, "/api/txt2img", "{" + SMALL + ", \"prompt\": \"" + A1111ConditioningTestWords.LONG + "\"}");
            assertEquals(202, sub.code());
            Job job = queue.get(json(sub).get("id").asText()).orElseThrow().done().get(5, java.util.concurrent.TimeUnit.MINUTES);
            JsonNode jobJson = WebTestSupport.JSON.valueToTree(job.toJson(0));
            assertTrue(jobJson.get("result").get("warnings").get(0).asText().contains("2 chunks"), jobJson.toString());
            String page = client.get(job.result().resultUrl()).body().string();
            assertTrue(page.contains("2 chunks"), "result page shows the notice");
        });
    }

    @Test
    void everyOutputFileIsServedWithEncodedLinks() {
        // failure 7: names with spaces, unicode, dots, a leading underscore, A1111 style
        withApp((client, queue, store) -> {
            List<String> names = List.of("a b.png", "東京.png", "foo.bar.png", "_x.png", "00001-123-a cat.png");
            for (String n : names) {
                Files.write(outputs.resolve(n), dev.tenstep.io.PngImages.encode(new java.awt.image.BufferedImage(8, 8,
                        java.awt.image.BufferedImage.TYPE_INT_RGB), Map.of("parameters", "x")));
            }
            assertEquals(names.size(), store.list(1, 50).total());
            for (OutputStore.Entry e : store.list(1, 50).entries()) {
                assertFalse(e.url().contains(" "), e.url());
                assertEquals(200, client.get(e.url()).code(), e.url());
                assertEquals(200, client.get(e.resultUrl()).code(), e.resultUrl());
            }
            String gallery = client.get("/gallery").body().string();
            assertTrue(gallery.contains("/outputs/a%20b.png"), "encoded link in the gallery");
            // traversal stays impossible
            Files.writeString(outputs.getParent().resolve("secret.txt"), "no");
            for (String bad : List.of("/outputs/..%2Fsecret.txt", "/outputs/%2E%2E%2Fsecret.txt", "/outputs/.hidden",
                    "/result/..%2Fsecret.txt")) {
                assertEquals(404, client.get(bad).code(), bad);
            }
        });
    }
}
