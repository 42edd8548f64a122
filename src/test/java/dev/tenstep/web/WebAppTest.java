package dev.tenstep.web;

import dev.tenstep.pipeline.TextToImage;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tenstep.io.PngImages;
import io.javalin.testtools.HttpClient;
import okhttp3.Response;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static dev.tenstep.web.WebTestSupport.json;
import static dev.tenstep.web.WebTestSupport.postJson;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every route of the web app on the tiny-sd15 fixture pipeline (loaded once for the class). */
class WebAppTest extends TinySd15WebTest {

    private static JsonNode finish(JobQueue queue, String id) throws Exception {
        Job job = queue.get(id).orElseThrow().done().get(60, TimeUnit.SECONDS);
        return WebTestSupport.JSON.valueToTree(job.toJson(0));
    }

    private static String submit(HttpClient client, String body) throws IOException {
        Response r = postJson(client, "/api/txt2img", body);
        assertEquals(202, r.code());
        return json(r).get("id").asText();
    }

    @Test
    void pagesRender() {
        withApp(generator, 16, (client, queue, store) -> {
            for (String path : List.of("/", "/compare", "/grid", "/gallery", "/gallery?page=3", "/?prompt=x&steps=20")) {
                Response r = client.get(path);
                String html = r.body().string();
                assertEquals(200, r.code(), path);
                assertTrue(html.contains("tenstep"), path);
                assertTrue(html.contains(pipeline.name()), path);
            }
            String index = client.get("/").body().string();
            for (String id : List.of("id=\"prompt\"", "id=\"negative_prompt\"", "id=\"seed\"", "id=\"dice\"", "id=\"steps\"",
                    "id=\"cfg_scale\"", "id=\"width\"", "id=\"height\"", "id=\"sampler\"", "id=\"schedule\"", "id=\"gamma\"",
                    "id=\"progress\"")) {
                assertTrue(index.contains(id), id);
            }
            assertTrue(index.contains("value=\"10\""), "steps default 10");
            // only GE's option carries a gamma for the form (no fake gamma 1 for the others)
            java.util.regex.Matcher opt = java.util.regex.Pattern.compile("<option[^>]*value=\"(ddim|ge|ddpm|dpmpp-2m)\"[^>]*>")
                    .matcher(index);
            Map<String, Boolean> hasGamma = new java.util.LinkedHashMap<>();
            while (opt.find()) {
                hasGamma.put(opt.group(1), opt.group().contains("data-gamma"));
            }
            assertEquals(Map.of("ddim", false, "ge", true, "ddpm", false, "dpmpp-2m", false), hasGamma, index);
            assertTrue(index.contains("value=\"7.5\""), "cfg default 7.5");
            assertTrue(index.matches("(?s).*<option value=\"ge\"[^>]*selected.*"), "GE selected by default");
            assertTrue(index.matches("(?s).*<option value=\"log-linear\"[^>]*selected.*"), "log-linear selected by default");
            assertFalse(index.contains("demo weights"), "the fixture is not the demo model");
            String compare = client.get("/compare").body().string();
            assertTrue(compare.contains("ddim:ddim,ge:log-linear"), "default panels DDIM+ddim vs GE+log-linear");
            assertTrue(client.get("/grid").body().string().contains("5, 10, 20, 50"));
            assertEquals(200, client.get("/static/common.js").code());
            assertEquals(200, client.get("/static/app.css").code());
            assertEquals(404, client.get("/result/nothing-here.png").code());
            JsonNode info = json(client.get("/api/info"));
            assertEquals(pipeline.defaultSize(), info.get("default_size").asInt());
            assertEquals("cpu", info.get("device").asText());
            assertEquals("fp32", info.get("dtype").asText());
            assertEquals("fp32", info.get("vae_dtype").asText());
            assertTrue(index.contains("on <b class=\"device\">cpu fp32</b>"), "the header names device and dtype");
        });
    }

    /**
     * SDXL's size conditioning on the generate page: the fields are there for an SDXL model (tiny-sdxl) and not for
     * SD 1.5; a job that sets the conditioning (JSON [height, width] and [top, left]) makes a PNG whose infotext writes
     * it width first, as its {@code Size}; "Reuse these settings" fills the six fields back from the record.
     */
    @Test
    void sdxlSizeConditioningFieldsAndReuse() {
        withApp((client, queue, store) -> assertFalse(client.get("/").body().string().contains("id=\"original_width\""),
                "SD 1.5 has no size conditioning"));
        try (dev.tenstep.pipeline.StableDiffusionPipeline xl = dev.tenstep.pipeline.StableDiffusionPipeline.load(
                dev.tenstep.testing.Fixtures.dir(dev.tenstep.testing.Fixtures.SDXL))) {
            withApp(xl, 4, (client, queue, store) -> {
                String index = client.get("/").body().string();
                for (String field : List.of("original_width", "original_height", "crop_top", "crop_left", "target_width",
                        "target_height")) {
                    assertTrue(index.matches("(?s).*<input id=\"" + field + "\"[^>]*value=\"\".*"), field + " empty: " + index);
                }
                assertTrue(index.matches("(?s).*<input id=\"width\"[^>]*value=\"128\".*"), "SDXL's default size");
                String id = submit(client, "{\"prompt\": \"a castle\", \"steps\": 2, \"seed\": 3, \"sampler\": \"ddim\", "
                        + "\"original_size\": [1024, 768], \"crops_coords_top_left\": [48, 16]}");
                JsonNode job = finish(queue, id);
                assertEquals("done", job.get("status").asText(), job.toString());
                JsonNode result = job.get("result");
                byte[] png = client.get(result.get("image").asText()).body().bytes();
                String params = PngImages.readText(new ByteArrayInputStream(png)).get("parameters");
                assertTrue(params.contains("Size: 128x128, Model: tiny-sdxl, Original size: 768x1024, Crop top left: "
                        + "\"48,16\""), params);
                assertEquals(params, result.get("infotext").asText());
                String reuse = client.get(result.get("reuse").asText()).body().string();
                Map<String, String> want = Map.of("original_width", "768", "original_height", "1024", "crop_top", "48",
                        "crop_left", "16", "target_width", "", "target_height", "");
                for (Map.Entry<String, String> w : want.entrySet()) {
                    assertTrue(reuse.matches("(?s).*<input id=\"" + w.getKey() + "\"[^>]*value=\"" + w.getValue() + "\".*"),
                            w + ": " + reuse);
                }
            });
        }
    }

    @Test
    void apiValidationNamesTheField() {
        withApp(generator, 16, (client, queue, store) -> {
            Map<String, String> cases = Map.of(
                    "{\"width\": 62}", "width",
                    "{\"height\": 22}", "height",
                    "{\"steps\": 0}", "steps",
                    "{\"steps\": 1001}", "steps",
                    "{\"cfg_scale\": \"lots\"}", "cfg_scale",
                    "{\"sampler\": \"euler_a\"}", "sampler",
                    "{\"schedule\": \"cosine\"}", "schedule",
                    "{\"steps\": \"ten\"}", "steps");
            for (Map.Entry<String, String> c : cases.entrySet()) {
                Response r = postJson(client, "/api/txt2img", c.getKey());
                assertEquals(400, r.code(), c.getKey());
                String body = r.body().string();
                JsonNode j = WebTestSupport.JSON.readTree(body);
                assertEquals(c.getValue(), j.get("errors").get(0).get("field").asText(), body);
                assertTrue(j.get("error").asText().contains(c.getValue()));
                assertFalse(body.contains("at dev.tenstep"), "no stack trace");
            }
            Response bad = postJson(client, "/api/txt2img", "{not json");
            assertEquals(400, bad.code());
            // A1111's field names sent to the native API would change the picture if honoured: refused, not ignored
            for (String unknown : new String[] {"sampler_name", "scheduler", "batch_size"}) {
                Response u = postJson(client, "/api/txt2img", "{\"prompt\": \"x\", \"" + unknown + "\": \"euler\"}");
                assertEquals(400, u.code(), unknown);
                JsonNode e = json(u).get("errors").get(0);
                assertEquals(unknown, e.get("field").asText());
                assertTrue(e.get("message").asText().contains("unknown field") && e.get("message").asText().contains("sampler"),
                        e.toString());
            }
            // an empty body is refused, as A1111's FastAPI does ("field required", body), not run with defaults
            for (String empty : new String[] {"", "  \n"}) {
                Response none = postJson(client, "/api/txt2img", empty);
                assertEquals(400, none.code(), "empty body on /api/txt2img");
                assertEquals("body", json(none).get("errors").get(0).get("field").asText());
                Response noneA = postJson(client, "/sdapi/v1/txt2img", empty);
                assertEquals(422, noneA.code(), "empty body on /sdapi/v1/txt2img");
                assertEquals("body", json(noneA).get("errors").get(0).get("field").asText());
            }
            Response a1111 = postJson(client, "/sdapi/v1/txt2img", "{\"sampler_name\": \"Euler a\"}");
            assertEquals(422, a1111.code(), "A1111's API answers validation errors with 422");
            assertEquals("sampler_name", json(a1111).get("errors").get(0).get("field").asText());
            // the empty prompt is allowed
            String id = submit(client, "{\"prompt\": \"\", \"steps\": 2, \"seed\": 1}");
            assertEquals("done", finish(queue, id).get("status").asText());
            assertEquals(404, client.get("/api/jobs/nope").code());
            assertEquals(404, client.delete("/api/jobs/nope").code());
        });
    }

    @Test
    void sseEventsArriveInOrderAndEndWithTheResult() {
        withApp(generator, 16, (client, queue, store) -> {
            String id = submit(client, "{\"prompt\": \"a red cube\", \"steps\": 4, \"seed\": 11, \"preview\": \"vae\"}");
            Response r = WebTestSupport.eventStream(client, "/api/jobs/" + id + "/events");
            assertEquals(200, r.code());
            assertTrue(r.header("Content-Type").startsWith("text/event-stream"));
            List<String> names = new ArrayList<>();
            List<JsonNode> data = new ArrayList<>();
            String name = null;
            for (String line : r.body().string().split("\n")) {
                if (line.startsWith("event:")) {
                    name = line.substring(6).trim();
                } else if (line.startsWith("data:")) {
                    names.add(name);
                    data.add(WebTestSupport.JSON.readTree(line.substring(5).trim()));
                }
            }
            assertEquals("result", names.get(names.size() - 1), names.toString());
            int started = names.indexOf("started");
            assertTrue(started >= 0 && names.subList(0, started).stream().allMatch("queued"::equals), names.toString());
            List<Integer> steps = new ArrayList<>();
            for (int i = 0; i < names.size(); i++) {
                if (names.get(i).equals("progress")) {
                    assertTrue(i > started);
                    steps.add(data.get(i).get("step").asInt());
                    assertEquals(4, data.get(i).get("total").asInt());
                    assertTrue(data.get(i).has("sigma") && data.get(i).has("elapsed_ms"));
                }
            }
            assertEquals(List.of(1, 2, 3, 4), steps);
            // the replay keeps the last preview (earlier ones are dropped to save memory)
            JsonNode lastProgress = data.get(names.lastIndexOf("progress"));
            assertTrue(lastProgress.get("preview").asText().startsWith("data:image/png;base64,"));
            assertEquals("vae", lastProgress.get("preview_kind").asText());
            JsonNode result = data.get(data.size() - 1).get("result");
            assertEquals(11, result.get("seed").asLong());

            // the job JSON, the image and its sidecar
            JsonNode job = json(client.get("/api/jobs/" + id));
            assertEquals("done", job.get("status").asText());
            assertTrue(job.get("result").get("infotext").asText().contains("Seed: 11"));
            Response img = client.get(job.get("result").get("image").asText());
            assertEquals(200, img.code());
            assertEquals("image/png", img.header("Content-Type"));
            byte[] png = img.body().bytes();
            assertTrue(PngImages.readText(new ByteArrayInputStream(png)).get("parameters").contains("Seed: 11"));
            String file = result.get("file").asText();
            assertTrue(Files.isRegularFile(outputs.resolve(file)));
            Path sidecar = outputs.resolve(file.replace(".png", ".json"));
            assertTrue(Files.isRegularFile(sidecar));
            assertEquals("a red cube", WebTestSupport.JSON.readTree(sidecar.toFile()).get("prompt").asText());
            try (var s = Files.list(outputs)) {
                assertTrue(s.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temp files left");
            }

            // approximate previews by default, labelled as such
            String id2 = submit(client, "{\"prompt\": \"x\", \"steps\": 2, \"seed\": 3}");
            String events = WebTestSupport.eventStream(client, "/api/jobs/" + id2 + "/events").body().string();
            // preview_kind uses the request's names (approx | vae)
            assertTrue(events.contains("\"preview_kind\":\"approx\""), events);
            assertTrue(events.trim().endsWith("}") && events.contains("event: result"));
            // the gallery reads the folder: a new store (a restarted server) sees both, newest first
            OutputStore.Page page = new OutputStore(outputs).list(1, 24);
            assertEquals(2, page.total());
            assertEquals(3L, ((Number) page.entries().get(0).params().get("seed")).longValue());
            String gallery = client.get("/gallery").body().string();
            assertTrue(gallery.contains(file) && gallery.contains("/?reuse=" + file));
            String reuse = client.get("/?reuse=" + file).body().string();
            assertTrue(reuse.contains("a red cube") && reuse.contains("value=\"11\""), "reuse fills the form");
        });
    }

    /** Whether the page's option {@code value} is selected (Thymeleaf writes {@code selected="selected"}). */
    private static boolean selected(String html, String value) {
        return html.matches("(?s).*<option value=\"" + java.util.regex.Pattern.quote(value) + "\"[^>]*selected.*");
    }

    @Test
    void promptSyntaxClipSkipAndRngGoThroughFormRecordAndReuse() {
        withApp(generator, 16, (client, queue, store) -> {
            JsonNode info = json(client.get("/api/info"));
            List<String> rngs = new ArrayList<>();
            info.get("rngs").forEach(n -> rngs.add(n.get("value").asText()));
            assertEquals(List.of("philox", "torch-cpu", "tenstep"), rngs);
            List<String> syntaxes = new ArrayList<>();
            info.get("prompt_syntaxes").forEach(n -> syntaxes.add(n.get("value").asText()));
            assertEquals(List.of("a1111", "plain"), syntaxes);
            assertEquals("philox", info.get("default_rng").asText());
            assertEquals("a1111", info.get("default_prompt_syntax").asText());
            assertEquals(1, info.get("default_clip_skip").asInt());
            // the model's text encoder layers (tiny-sd15: 3), not the A1111 slider's 12
            assertEquals(pipeline.maxClipSkip(), info.get("max_clip_skip").asInt());
            assertEquals(3, info.get("max_clip_skip").asInt());
            for (String path : List.of("/", "/compare", "/grid")) {
                String html = client.get(path).body().string();
                for (String id : List.of("id=\"prompt_syntax\"", "id=\"clip_skip\"", "id=\"rng\"")) {
                    assertTrue(html.contains(id), path + " " + id);
                }
                assertTrue(selected(html, "philox") && selected(html, "a1111"), path + ": the server's defaults selected");
                assertFalse(selected(html, "tenstep") || selected(html, "plain"), path);
            }

            String id = submit(client, "{\"prompt\": \"a (red) cube\", \"steps\": 2, \"seed\": 11, \"width\": 64, "
                    + "\"height\": 64, \"rng\": \"torch-cpu\", \"clip_skip\": 2, \"prompt_syntax\": \"plain\"}");
            JsonNode job = finish(queue, id);
            JsonNode result = job.get("result");
            Path sidecar = outputs.resolve(result.get("file").asText().replace(".png", ".json"));
            for (JsonNode rec : List.of(job.get("request"), result, WebTestSupport.JSON.readTree(sidecar.toFile()))) {
                assertEquals("torch-cpu", rec.get("rng").asText(), rec.toString());
                assertEquals(2, rec.get("clip_skip").asInt());
                assertEquals("plain", rec.get("prompt_syntax").asText());
            }
            assertTrue(result.get("infotext").asText().contains("Clip skip: 2, RNG: CPU, Emphasis: None"));
            String reuse = client.get(result.get("reuse").asText()).body().string();
            assertTrue(selected(reuse, "torch-cpu") && selected(reuse, "plain"), "reuse selects the result's RNG and syntax");
            assertFalse(selected(reuse, "philox") || selected(reuse, "a1111"));
            assertTrue(reuse.matches("(?s).*id=\"clip_skip\"[^>]*value=\"2\".*"), "reuse fills clip skip");

            // a sidecar of an earlier version (no such fields): the picture was made with tenstep, plain, clip skip 1
            com.fasterxml.jackson.databind.node.ObjectNode old = (com.fasterxml.jackson.databind.node.ObjectNode)
                    WebTestSupport.JSON.readTree(sidecar.toFile());
            old.remove(List.of("rng", "clip_skip", "prompt_syntax"));
            Files.copy(outputs.resolve(result.get("file").asText()), outputs.resolve("old.png"));
            Files.writeString(outputs.resolve("old.json"), old.toString());
            String legacy = client.get("/?reuse=old.png").body().string();
            assertTrue(selected(legacy, "tenstep") && selected(legacy, "plain"), "an old sidecar means the old behaviour");
            assertTrue(legacy.matches("(?s).*id=\"clip_skip\"[^>]*value=\"1\".*"));
            assertTrue(selected(client.get("/?rng=tenstep").body().string(), "tenstep"), "query parameters fill them too");
        });
    }

    /** {@code /api/events?jobs=...}: several jobs over one stream, every event naming its job, each job's events in order. */
    @Test
    void oneStreamCarriesTheEventsOfSeveralJobs() {
        withApp(generator, 16, (client, queue, store) -> {
            List<String> ids = new ArrayList<>();
            for (int n : List.of(3, 1, 2)) {
                ids.add(submit(client, "{\"prompt\": \"multi\", \"steps\": " + n + ", \"seed\": " + n + ", \"preview\": \"none\"}"));
            }
            Response r = WebTestSupport.eventStream(client, "/api/events?jobs=" + String.join(",", ids));
            assertEquals(200, r.code());
            assertTrue(r.header("Content-Type").startsWith("text/event-stream"));
            Map<String, List<String>> names = new java.util.LinkedHashMap<>();
            Map<String, List<Integer>> steps = new java.util.LinkedHashMap<>();
            String name = null;
            for (String line : r.body().string().split("\n")) {
                if (line.startsWith("event:")) {
                    name = line.substring(6).trim();
                } else if (line.startsWith("data:")) {
                    JsonNode d = WebTestSupport.JSON.readTree(line.substring(5).trim());
                    String job = d.get("job").asText();
                    assertTrue(ids.contains(job), d.toString());
                    names.computeIfAbsent(job, k -> new ArrayList<>()).add(name);
                    if (name.equals("progress")) {
                        steps.computeIfAbsent(job, k -> new ArrayList<>()).add(d.get("step").asInt());
                    }
                    if (name.equals("result")) {
                        assertEquals(job, d.get("id").asText(), "the result is the job JSON, tagged");
                        assertEquals("done", d.get("status").asText());
                    }
                }
            }
            assertEquals(java.util.Set.copyOf(ids), names.keySet(), "every job's events, and the stream ended after all three");
            int[] total = {3, 1, 2};
            for (int i = 0; i < 3; i++) {
                List<String> n = names.get(ids.get(i));
                assertEquals("queued", n.get(0), n.toString());
                assertEquals("result", n.get(n.size() - 1), n.toString());
                assertEquals(1, n.stream().filter(e -> e.equals("result")).count(), n.toString());
                List<Integer> expected = new ArrayList<>();
                for (int k = 1; k <= total[i]; k++) {
                    expected.add(k);
                }
                assertEquals(expected, steps.get(ids.get(i)));
            }
            // the one-job stream keeps its layout (no job field)
            String single = WebTestSupport.eventStream(client, "/api/jobs/" + ids.get(1) + "/events").body().string();
            assertTrue(single.contains("event: result") && !single.contains("\"job\":"), single);

            Response noIds = WebTestSupport.eventStream(client, "/api/events");
            assertEquals(400, noIds.code());
            assertEquals("jobs", json(noIds).get("errors").get(0).get("field").asText());
            Response twice = WebTestSupport.eventStream(client, "/api/events?jobs=" + ids.get(0) + "," + ids.get(0));
            assertEquals(400, twice.code());
            assertEquals("jobs", json(twice).get("errors").get(0).get("field").asText());
            Response unknown = WebTestSupport.eventStream(client, "/api/events?jobs=" + ids.get(0) + ",nope");
            assertEquals(404, unknown.code());
            assertTrue(json(unknown).get("error").asText().contains("nope"));
            assertEquals(406, client.get("/api/events?jobs=" + ids.get(0)).code(), "only for Accept: text/event-stream");
        });
    }

    /** The accessibility markup: live status texts, named progress bars, the current page, a legend, alt texts. */
    @Test
    void pagesCarryTheAccessibilityMarkup() {
        withApp(generator, 16, (client, queue, store) -> {
            String index = client.get("/").body().string();
            assertTrue(index.matches("(?s).*<a href=\"/\"[^>]*aria-current=\"page\"[^>]*>Generate</a>.*"), index);
            assertEquals(1, index.split("aria-current=").length - 1, "only the active link is current");
            assertTrue(index.contains("<legend>"), "the prompt fieldset has a legend");
            assertTrue(index.matches("(?s).*id=\"job-status\"[^>]*aria-live=\"polite\".*"));
            assertTrue(index.matches("(?s).*<progress id=\"progress\"[^>]*aria-label=\"[^\"]+\".*"));
            String compare = client.get("/compare").body().string();
            assertTrue(compare.matches("(?s).*<a href=\"/compare\"[^>]*aria-current=\"page\"[^>]*>Compare</a>.*"));
            assertTrue(compare.matches("(?s).*class=\"p-status status\"[^>]*aria-live=\"polite\".*"));
            assertTrue(compare.matches("(?s).*<progress class=\"p-progress\"[^>]*aria-label=.*"));
            assertTrue(client.get("/grid").body().string().matches("(?s).*id=\"grid-status\"[^>]*aria-live=\"polite\".*"));
            String css = client.get("/static/app.css").body().string();
            assertTrue(css.contains("img.preview-upscaled { image-rendering: pixelated; }"), "pixelated only on upscaled previews");
            assertEquals(1, css.split("pixelated").length - 1, css);

            String id = submit(client, "{\"prompt\": \"a red cube\", \"steps\": 2, \"seed\": 7, \"sampler\": \"ddim\"}");
            String file = finish(queue, id).get("result").get("file").asText();
            String alt = "alt=\"&quot;a red cube&quot;: DDIM, ddim schedule, 2 steps\"";
            assertTrue(client.get("/gallery").body().string().contains(alt), "gallery alt text");
            String result = client.get("/result/" + file).body().string();
            assertTrue(result.contains(alt), result);
            assertFalse(result.contains("pixelated"));
        });
    }

    @Test
    void fullQueueAnswers429AndCancelWorks() {
        WebTestSupport.HoldingModel holding = new WebTestSupport.HoldingModel(generator);
        withApp(holding, 1, (client, queue, store) -> {
            String running = submit(client, "{\"prompt\": \"first\", \"steps\": 3, \"seed\": 1}");
            holding.awaitStarted();
            String waiting = submit(client, "{\"prompt\": \"second\", \"steps\": 3, \"seed\": 2}");
            assertEquals(1, json(client.get("/api/jobs/" + waiting)).get("position").asInt());
            assertEquals("running", json(client.get("/api/jobs/" + running)).get("status").asText());

            Response full = postJson(client, "/api/txt2img", "{\"prompt\": \"third\", \"steps\": 3}");
            assertEquals(429, full.code());
            assertTrue(json(full).get("error").asText().contains("queue is full"));

            // cancel the waiting job: removed at once
            Response c1 = client.delete("/api/jobs/" + waiting);
            assertEquals(200, c1.code());
            assertEquals("cancelled", json(c1).get("status").asText());
            // cancel the running job: it stops at its next step
            Response c2 = client.delete("/api/jobs/" + running);
            assertEquals(202, c2.code());
            holding.release();
            assertEquals("cancelled", finish(queue, running).get("status").asText());
            String events = WebTestSupport.eventStream(client, "/api/jobs/" + running + "/events").body().string();
            assertTrue(events.contains("event: cancelled"), events);

            // a failing job does not stop the server
            String boom = submit(client, "{\"prompt\": \"explode\", \"steps\": 2}");
            JsonNode failed = finish(queue, boom);
            assertEquals("failed", failed.get("status").asText());
            assertTrue(failed.get("error").asText().contains("exploded on purpose"));
            assertFalse(failed.toString().contains("at dev.tenstep"));

            holding.hold = false;
            String after = submit(client, "{\"prompt\": \"after\", \"steps\": 2, \"seed\": 5}");
            assertEquals("done", finish(queue, after).get("status").asText());
        });
    }

    @Test
    void traversalAttemptsGet404() {
        withApp(generator, 16, (client, queue, store) -> {
            Files.writeString(outputs.resolve(".hidden.png"), "x");
            Files.writeString(outputs.getParent().resolve("secret.png"), "x");
            int port = Integer.parseInt(client.getOrigin().replaceAll(".*:", ""));
            // paths that reach the app: 404
            for (String path : List.of("/outputs/..%2fsecret.png", "/outputs/%2e%2e%2fsecret.png", "/outputs/..%5csecret.png",
                    "/outputs/..%5c..%5cpom.xml", "/outputs/.hidden.png", "/outputs/missing.png", "/outputs/%2e%2e",
                    "/outputs/..", "/outputs/../secret.png", "/outputs/%252e%252e%252fsecret.png",
                    "/static/..%2fpom.xml", "/result/..%2fsecret.png")) {
                assertEquals(404, rawStatus(port, path), path);
            }
            // paths whose decoded form climbs above the root are refused by Jetty's URI parser itself
            // (400 "Bad Message") before any handler runs: never the file
            for (String path : List.of("/outputs/..%2f..%2fpom.xml", "/outputs/%2e%2e%2f%2e%2e%2fpom.xml", "/outputs/../../pom.xml", "/outputs/x%00.png", "/static/..%2f..%2fpom.xml")) {
                int status = rawStatus(port, path);
                assertTrue(status == 404 || status == 400, path + " -> " + status);
            }
            assertEquals(404, client.get("/outputs/..%2fsecret.png").code());
        });
    }

    /** Sends the path exactly as given (no client-side normalisation) and returns the status code. */
    private static int rawStatus(int port, String path) throws IOException {
        try (Socket s = new Socket("localhost", port)) {
            OutputStream out = s.getOutputStream();
            out.write(("GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            String status = new String(in.readNBytes(12), StandardCharsets.US_ASCII);
            return Integer.parseInt(status.substring(9, 12));
        }
    }

    @Test
    void htmlPromptIsEscaped() {
        withApp(generator, 16, (client, queue, store) -> {
            String prompt = "<script>alert('x')</script><b>bold</b>";
            String id = submit(client, WebTestSupport.JSON.writeValueAsString(Map.of("prompt", prompt, "steps", 2, "seed", 9)));
            JsonNode job = finish(queue, id);
            String file = job.get("result").get("file").asText();
            for (String path : List.of("/gallery", "/result/" + file, "/?reuse=" + file, "/compare?reuse=" + file)) {
                String html = client.get(path).body().string();
                assertFalse(html.contains("<script>alert"), path);
                assertFalse(html.contains("<b>bold"), path);
                assertTrue(html.contains("&lt;script&gt;alert("), path);
            }
        });
    }

    @Test
    void a1111Txt2imgAnswersBase64PngsWithParameters() {
        withApp(generator, 16, (client, queue, store) -> {
            String body = "{\"prompt\": \"a house\", \"negative_prompt\": \"fog\", \"steps\": 3, \"cfg_scale\": 5, \"seed\": 42,"
                    + " \"width\": 64, \"height\": 64, \"sampler_name\": \"DDIM\", \"batch_size\": 2, \"n_iter\": 1}";
            Response r = WebTestSupport.postJsonSlow(client, "/sdapi/v1/txt2img", body);
            assertEquals(200, r.code());
            JsonNode j = json(r);
            assertEquals(2, j.get("images").size());
            for (int i = 0; i < 2; i++) {
                byte[] png = Base64.getDecoder().decode(j.get("images").get(i).asText());
                assertNotNull(ImageIO.read(new ByteArrayInputStream(png)));
                String params = PngImages.readText(new ByteArrayInputStream(png)).get("parameters");
                assertTrue(params.startsWith("a house\nNegative prompt: fog\n"), params);
                assertTrue(params.contains("Sampler: DDIM") && params.contains("Seed: " + (42 + i)), params);
            }
            assertEquals("a house", j.get("parameters").get("prompt").asText());
            JsonNode info = WebTestSupport.JSON.readTree(j.get("info").asText());
            assertEquals(42, info.get("seed").asLong());
            assertEquals("[42,43]", info.get("all_seeds").toString());
            assertEquals(2, info.get("infotexts").size());

            // seed -1 is random
            JsonNode random = json(WebTestSupport.postJsonSlow(client, "/sdapi/v1/txt2img", "{\"prompt\": \"\", \"steps\": 1, \"seed\": -1}"));
            assertTrue(WebTestSupport.JSON.readTree(random.get("info").asText()).get("seed").asLong() >= 0);

            JsonNode samplers = json(client.get("/sdapi/v1/samplers"));
            List<String> names = new ArrayList<>();
            samplers.forEach(s -> names.add(s.get("name").asText()));
            assertEquals(List.of("DDIM", "GE", "DDPM", "DPM++ 2M", "Euler"), names);
            assertEquals("karras", samplers.get(3).get("options").get("default_schedule").asText());
            // only GE has a parameter (gamma); the others publish none (no fake gamma 1 / mu 0)
            assertEquals("2.0", samplers.get(1).get("options").get("gamma").asText());
            for (int i : new int[] {0, 2, 3, 4}) {
                assertEquals(List.of("default_schedule"), iterator(samplers.get(i).get("options").fieldNames()),
                        samplers.get(i).get("name").asText());
            }
            JsonNode apiInfo = json(client.get("/api/info"));
            assertEquals(2.0, apiInfo.get("samplers").get(1).get("gamma").asDouble());
            assertTrue(apiInfo.get("samplers").get(3).get("gamma") == null, "DPM++ 2M has no gamma");
            JsonNode models = json(client.get("/sdapi/v1/sd-models"));
            assertEquals(pipeline.name(), models.get(0).get("model_name").asText());
        });
    }

    @Test
    void gridDownloadsAsOnePng() {
        withApp(generator, 16, (client, queue, store) -> {
            List<String> ids = new ArrayList<>();
            for (String sampler : List.of("ddim", "ge")) {
                for (int n : List.of(1, 2)) {
                    ids.add(submit(client, "{\"prompt\": \"grid\", \"seed\": 4, \"steps\": " + n + ", \"sampler\": \"" + sampler + "\"}"));
                }
            }
            for (String id : ids) {
                finish(queue, id);
            }
            Response r = client.get("/api/grid.png?cols=2&jobs=" + String.join(",", ids));
            assertEquals(200, r.code());
            var img = ImageIO.read(new ByteArrayInputStream(r.body().bytes()));
            assertTrue(img.getWidth() > 2 * 64 && img.getHeight() > 2 * 64);
            assertEquals(400, client.get("/api/grid.png?cols=3&jobs=" + String.join(",", ids)).code());
            assertEquals(404, client.get("/api/grid.png?cols=1&jobs=unknown").code());
        });
    }

    // ------------------------------------------------------------ QA fixes

    /** Defect 1a: sizes above the server's limit (default 2 x the model's default size) are refused with 400. */
    @Test
    void sizeLimitIsEnforcedAndShownInInfo() {
        int max = 2 * pipeline.defaultSize();
        withApp(generator, 16, (client, queue, store) -> {
            assertEquals(max, json(client.get("/api/info")).get("max_size").asInt());
            Response r = postJson(client, "/api/txt2img", "{\"width\": 4096, \"steps\": 1}");
            assertEquals(400, r.code());
            JsonNode j = json(r);
            assertEquals("width", j.get("errors").get(0).get("field").asText());
            assertEquals("width: must be at most " + max + " for this model, got 4096",
                    "width: " + j.get("errors").get(0).get("message").asText());
            Response h = postJson(client, "/api/txt2img", "{\"height\": " + (max + generator.sizeMultiple()) + "}");
            assertEquals(400, h.code());
            assertEquals("height", json(h).get("errors").get(0).get("field").asText());
            Response a = postJson(client, "/sdapi/v1/txt2img", "{\"width\": 4096}");
            assertEquals(422, a.code());
            assertTrue(json(a).get("error").asText().contains("must be at most " + max), "A1111 endpoint too");
            // the limit itself is allowed, and shown on the form
            String id = submit(client, "{\"width\": " + max + ", \"height\": " + generator.sizeMultiple() + ", \"steps\": 1, \"seed\": 1}");
            assertEquals("done", finish(queue, id).get("status").asText());
            assertTrue(client.get("/").body().string().contains("max=\"" + max + "\""));
        });
        // serve --max-size N
        int custom = 3 * pipeline.defaultSize();
        withApp(ServedModel.of(pipeline, custom), 16, (client, queue, store) -> {
            assertEquals(custom, json(client.get("/api/info")).get("max_size").asInt());
            Response r = postJson(client, "/api/txt2img", "{\"width\": " + (custom + generator.sizeMultiple()) + "}");
            assertTrue(json(r).get("error").asText().contains("must be at most " + custom + " for this model"));
        });
    }

    /**
     * Defect 1b: cancelling a running job interrupts its worker inside the step (the listener is
     * never consulted), and the worker, its interrupt flag cleared, completes the next job.
     */
    @Test
    void cancelInterruptsTheRunningStepAndTheNextJobCompletes() {
        SlowStepGenerator slow = new SlowStepGenerator(generator);
        withApp(slow, 4, (client, queue, store) -> {
            String id = submit(client, "{\"prompt\": \"slow\", \"steps\": 3, \"seed\": 1}");
            if (!slow.inStep.await(60, TimeUnit.SECONDS)) {
                throw new AssertionError("the slow job never started");
            }
            String next = submit(client, "{\"prompt\": \"after\", \"steps\": 2, \"seed\": 2}");
            Response c = client.delete("/api/jobs/" + id);
            assertEquals(202, c.code(), "a running job is being stopped");
            Job job = queue.get(id).orElseThrow().done().get(30, TimeUnit.SECONDS);
            assertEquals(Job.Status.CANCELLED, job.status(), String.valueOf(job.error()));
            assertTrue(slow.interruptedInStep, "the worker thread was interrupted inside the step");
            String events = WebTestSupport.eventStream(client, "/api/jobs/" + id + "/events").body().string();
            assertTrue(events.contains("event: cancelled") && !events.contains("event: progress"), events);
            // the worker keeps serving: the next job runs every step and is saved
            JsonNode after = finish(queue, next);
            assertEquals("done", after.get("status").asText(), after.toString());
            assertEquals(2, after.get("step").asInt());
        });
    }

    /**
     * A generator whose {@code "slow"} job spends its first step in a long computation that, like
     * the UNet between blocks, only watches the thread's interrupt flag; then the real pipeline
     * runs (and stops at once if the flag is set).
     */
    static final class SlowStepGenerator extends WebTestSupport.ForwardingModel {
        final java.util.concurrent.CountDownLatch inStep = new java.util.concurrent.CountDownLatch(1);
        volatile boolean interruptedInStep;

        SlowStepGenerator(TextToImage real) {
            super(real);
        }

        @Override
        public dev.tenstep.pipeline.GenerationResult generate(dev.tenstep.pipeline.ResolvedRequest request,
                                                                PromptEmbedding embedding, Options options) {
            if (request.prompt().equals("slow")) {
                inStep.countDown();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                while (!Thread.currentThread().isInterrupted() && System.nanoTime() < deadline) {
                    Thread.onSpinWait();
                }
                interruptedInStep = Thread.currentThread().isInterrupted();
            }
            return real.generate(request, embedding, options);
        }







    }

    /** Defect 3: numbers are taken exactly; out-of-range or fractional values are refused quoting what was sent. */
    @Test
    void numbersAreNeitherClampedNorRounded() {
        withApp(generator, 16, (client, queue, store) -> {
            Map<String, String> nativeCases = new java.util.LinkedHashMap<>();
            nativeCases.put("{\"steps\": 99999999999999999999}", "steps|99999999999999999999");
            nativeCases.put("{\"steps\": 3000000000}", "steps|3000000000");
            nativeCases.put("{\"steps\": 2.5}", "steps|2.5");
            nativeCases.put("{\"seed\": 1e30}", "seed|1E+30");
            nativeCases.put("{\"seed\": 9223372036854775808}", "seed|9223372036854775808");
            nativeCases.put("{\"seed\": 1.5}", "seed|1.5");
            nativeCases.put("{\"seed\": -7}", "seed|-7");
            nativeCases.put("{\"seed\": \"12abc\"}", "seed|12abc");
            nativeCases.put("{\"width\": 1e30}", "width|1E+30");
            nativeCases.put("{\"cfg_scale\": 1e400}", "cfg_scale|1E+400");
            nativeCases.put("{\"gamma\": true}", "gamma|true");
            check(client, "/api/txt2img", nativeCases);

            Map<String, String> a1111Cases = new java.util.LinkedHashMap<>();
            a1111Cases.put("{\"batch_size\": 4294967297}", "batch_size|4294967297");
            a1111Cases.put("{\"batch_size\": 1e30}", "batch_size|1E+30");
            a1111Cases.put("{\"n_iter\": 1.5}", "n_iter|1.5");
            a1111Cases.put("{\"n_iter\": 0}", "n_iter|0");
            a1111Cases.put("{\"batch_size\": 8, \"n_iter\": 8}", "batch_size|8 x 8");
            a1111Cases.put("{\"width\": 99999999999}", "width|99999999999");
            a1111Cases.put("{\"height\": 64.5}", "height|64.5");
            a1111Cases.put("{\"cfg_scale\": \"lots\"}", "cfg_scale|lots");
            a1111Cases.put("{\"seed\": 1e30}", "seed|1E+30");
            a1111Cases.put("{\"seed\": 9223372036854775807, \"batch_size\": 2}", "seed|9223372036854775807");
            check(client, "/sdapi/v1/txt2img", a1111Cases);

            // integral values in any JSON form are fine, and the seed is kept exactly
            String id = submit(client, "{\"steps\": 2.0, \"seed\": 9007199254740993, \"width\": \"64\"}");
            JsonNode done = finish(queue, id);
            assertEquals("done", done.get("status").asText());
            assertEquals(9007199254740993L, done.get("result").get("seed").asLong(), "no rounding through double");
            assertEquals(2, done.get("request").get("steps").asInt());
        });
    }

    /**
     * SDXL's size conditioning sent to an SD 1.5 model is refused naming the field (both APIs), never ignored; a value
     * of the wrong shape is named before that.
     */
    @Test
    void sizeConditioningIsRefusedByANonSdxlModel() {
        withApp(generator, 16, (client, queue, store) -> {
            Map<String, String> cases = new java.util.LinkedHashMap<>();
            cases.put("{\"original_size\": [512, 512]}", "original_size|applies to SDXL models only; tiny-sd15 is not one");
            cases.put("{\"crops_coords_top_left\": [0, 0]}", "crops_coords_top_left|SDXL");
            cases.put("{\"target_size\": [512]}", "target_size|must be an array of two integers, got [512]");
            cases.put("{\"original_size\": [0, 512]}", "original_size|at least 1 pixel");
            check(client, "/api/txt2img", cases);
            check(client, "/sdapi/v1/txt2img", Map.of("{\"target_size\": [64, 64]}", "target_size|SDXL"));
        });
    }

    private static void check(HttpClient client, String path, Map<String, String> cases) throws IOException {
        for (Map.Entry<String, String> c : cases.entrySet()) {
            String[] expected = c.getValue().split("\\|");
            Response r = postJson(client, path, c.getKey());
            String body = r.body().string();
            assertEquals(path.startsWith("/sdapi/") ? 422 : 400, r.code(), path + " " + c.getKey() + " -> " + body);
            JsonNode j = WebTestSupport.JSON.readTree(body);
            assertEquals(expected[0], j.get("errors").get(0).get("field").asText(), c.getKey() + " -> " + body);
            String message = j.get("errors").get(0).get("message").asText();
            assertTrue(message.contains(expected[1]), c.getKey() + " -> " + message);
            assertFalse(message.contains("2147483647") || message.contains("Infinity"), c.getKey() + " -> " + message);
        }
    }

    private static List<String> iterator(java.util.Iterator<String> it) {
        List<String> l = new ArrayList<>();
        it.forEachRemaining(l::add);
        return l;
    }

    /** ideal:shapes' pages start with its example prompt, list its words and offer CFG 3; a job without cfg_scale gets 3. */
    @Test
    void pagesAndRequestsUseTheModelsDefaults() {
        try (dev.tenstep.pipeline.IdealPipeline shapes = dev.tenstep.pipeline.IdealPipeline.load("ideal:shapes")) {
            withApp(shapes, 4, (client, queue, store) -> {
                String compare = client.get("/compare").body().string();
                assertTrue(compare.contains(">a large blue star on a navy background, top left</textarea>"), compare);
                assertTrue(compare.matches("(?s).*id=\"known-words\".*circle.*navy.*star.*"), compare);
                assertTrue(compare.matches("(?s).*id=\"cfg_scale\"[^>]*value=\"3.0\".*"), compare);
                String id = submit(client, "{\"prompt\": \"a red circle\", \"steps\": 2, \"seed\": 7}");
                JsonNode job = finish(queue, id);
                assertTrue(job.get("result").get("infotext").asText().contains("CFG scale: 3,"), job.toString());
            });
            // an SD model without tenstep.json: 7.5 and no word list
            withApp(generator, 4, (client, queue, store) -> {
                String index = client.get("/").body().string();
                assertFalse(index.contains("id=\"known-words\""));
                assertTrue(index.matches("(?s).*id=\"cfg_scale\"[^>]*value=\"7.5\".*"), index);
            });
        }
    }
}
