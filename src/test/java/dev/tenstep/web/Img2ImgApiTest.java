package dev.tenstep.web;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tenstep.io.PngImages;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.pipeline.Images;
import dev.tenstep.testing.Fixtures;
import io.javalin.testtools.HttpClient;
import okhttp3.Response;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Map;

import static dev.tenstep.web.WebTestSupport.json;
import static dev.tenstep.web.WebTestSupport.postJson;
import static dev.tenstep.web.WebTestSupport.postJsonSlow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code POST /sdapi/v1/img2img}, {@code enable_hr} on {@code /sdapi/v1/txt2img} and the native API's
 * {@code init_image}, on tiny-sd15: the answers carry the fixture's pictures (8-bit, within one level) with A1111's
 * infotext, and the refused fields are named.
 */
class Img2ImgApiTest extends TinySd15WebTest {
    private static final String PROMPT = "\"prompt\": \"a photo of an astronaut riding a horse on mars\", \"cfg_scale\": 7.5, "
            + "\"sampler_name\": \"DDIM\", \"rng\": \"torch-cpu\"";

    private static Path fixture(String file) {
        return Fixtures.root().resolve("img2img").resolve(file);
    }

    private static String initImage() throws Exception {
        return Base64.getEncoder().encodeToString(Files.readAllBytes(fixture("init_image.png")));
    }

    private static JsonNode ok(HttpClient client, String path, String body) throws Exception {
        Response r = postJsonSlow(client, path, body);
        String text = r.body().string();
        assertEquals(200, r.code(), text);
        return WebTestSupport.JSON.readTree(text);
    }

    /** The answer's first image equals the fixture's decoded image within one 8-bit level. */
    private static BufferedImage assertPicture(JsonNode answer, String file, String tensor) throws Exception {
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(answer.get("images").get(0).asText())));
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> ref = SafeTensors.read(fixture(file), m);
            float[] expected = ref.get(tensor).toFloatArray();
            int w = img.getWidth();
            int h = img.getHeight();
            assertEquals(expected.length, 3 * w * h, "image size");
            int worst = 0;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int rgb = img.getRGB(x, y);
                    int[] px = {(rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255};
                    for (int c = 0; c < 3; c++) {
                        worst = Math.max(worst, Math.abs(Images.to8bit(expected[c * w * h + y * w + x]) - px[c]));
                    }
                }
            }
            assertTrue(worst <= 1, "8-bit deviation " + worst);
        }
        return img;
    }

    @Test
    void a1111Img2ImgGivesTheFixturesPicture() {
        withApp((client, queue, store) -> {
            JsonNode res = ok(client, "/sdapi/v1/img2img", "{" + PROMPT + ", \"seed\": 1560, \"steps\": 10, \"width\": 64, "
                    + "\"height\": 64, \"denoising_strength\": 0.6, \"resize_mode\": 0, \"mask\": null, \"init_images\": [\""
                    + initImage() + "\"], \"include_init_images\": true}");
            assertPicture(res, "reference/img2img_ddim.safetensors", "s0_6.final_image");
            assertEquals(2, res.get("images").size(), "include_init_images appends the init image");
            assertEquals(initImage(), res.get("images").get(1).asText());
            assertTrue(res.get("parameters").get("init_images").isNull(), "the echo drops the init image");
            JsonNode info = WebTestSupport.JSON.readTree(res.get("info").asText());
            assertEquals(0.6, info.get("denoising_strength").asDouble());
            assertTrue(info.get("infotexts").get(0).asText().endsWith("Seed: 1560, Size: 64x64, Model: tiny-sd15, "
                    + "Denoising strength: 0.6, RNG: CPU"), info.get("infotexts").get(0).asText());
        });
    }

    @Test
    void enableHrRunsTheHiresFix() {
        withApp((client, queue, store) -> {
            JsonNode res = ok(client, "/sdapi/v1/txt2img", "{" + PROMPT + ", \"seed\": 1530, \"steps\": 10, \"width\": 64, "
                    + "\"height\": 64, \"enable_hr\": true, \"hr_scale\": 2, \"hr_upscaler\": \"Latent\", "
                    + "\"hr_second_pass_steps\": 0, \"denoising_strength\": 0.7, \"hr_sampler_name\": \"\", \"hr_prompt\": \"\"}");
            BufferedImage img = assertPicture(res, "reference/hires.safetensors", "latent_bilinear.fixed_steps_rule.final_image");
            assertEquals(128, img.getWidth());
            JsonNode info = WebTestSupport.JSON.readTree(res.get("info").asText());
            assertEquals(64, info.get("width").asInt(), "A1111 reports the first pass's size");
            assertTrue(info.get("infotexts").get(0).asText().endsWith("Size: 64x64, Model: tiny-sd15, Denoising strength: 0.7, "
                    + "RNG: CPU, Hires upscale: 2, Hires upscaler: Latent"), info.get("infotexts").get(0).asText());
            // hr_resize_x/y: the size given, cropped to it (both set, another aspect), and its own infotext key
            JsonNode resized = ok(client, "/sdapi/v1/txt2img", "{\"seed\": 3, \"steps\": 2, \"width\": 64, \"height\": 64, "
                    + "\"enable_hr\": true, \"hr_resize_x\": 96, \"hr_resize_y\": 80, \"hr_second_pass_steps\": 1}");
            BufferedImage r = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(resized.get("images").get(0).asText())));
            assertEquals(96, r.getWidth());
            assertEquals(80, r.getHeight());
            String text = PngImages.readText(new ByteArrayInputStream(Base64.getDecoder().decode(
                    resized.get("images").get(0).asText()))).get(PngImages.PARAMETERS);
            assertTrue(text.endsWith("Denoising strength: 0.75, Hires resize: 96x80, Hires steps: 1, Hires upscaler: Latent"), text);
        });
    }

    @Test
    void nativeApiTakesAnInitImage() {
        withApp((client, queue, store) -> {
            Response r = postJson(client, "/api/txt2img", "{\"prompt\": \"a sunset\", \"steps\": 4, \"seed\": 2, "
                    + "\"init_image\": \"data:image/png;base64," + initImage() + "\", \"denoising_strength\": 0.5}");
            JsonNode job = json(r);
            assertEquals(202, r.code(), job.toString());
            assertEquals(2, job.get("total").asInt(), "strength 0.5 runs 2 of 4 steps");
            assertEquals(0.5, job.get("request").get("img2img").get("denoising_strength").asDouble());
            assertEquals("64x64", job.get("request").get("img2img").get("init_image_size").asText());
            Response bad = postJson(client, "/api/txt2img", "{\"init_images\": [\"" + initImage() + "\"]}");
            String body = bad.body().string();
            assertEquals(400, bad.code(), body);
            assertTrue(body.contains("\"field\":\"init_images\""), body);
        });
    }

    @Test
    void unsupportedFieldsAreRefusedNamingThem() {
        withApp((client, queue, store) -> {
            String init = "\"init_images\": [\"" + initImage() + "\"], \"steps\": 2";
            Map<String, String> refused = new java.util.LinkedHashMap<>();
            refused.put("/sdapi/v1/img2img {" + init + ", \"resize_mode\": 1}", "resize_mode");
            refused.put("/sdapi/v1/img2img {" + init + ", \"mask\": \"iVBORw0KGgo=\"}", "mask");
            refused.put("/sdapi/v1/img2img {\"init_images\": [\"a\", \"b\"]}", "init_images");
            refused.put("/sdapi/v1/img2img {\"init_images\": [\"not an image\"]}", "init_images");
            refused.put("/sdapi/v1/img2img {\"prompt\": \"x\"}", "init_images");
            refused.put("/sdapi/v1/img2img {" + init + ", \"denoising_strength\": 0.05, \"steps\": 10}", "denoising_strength");
            refused.put("/sdapi/v1/img2img {" + init + ", \"denoising_strength\": 2}", "denoising_strength");
            refused.put("/sdapi/v1/img2img {" + init + ", \"enable_hr\": true}", "enable_hr");
            refused.put("/sdapi/v1/img2img {" + init + ", \"initial_noise_multiplier\": 1.5}", "initial_noise_multiplier");
            refused.put("/sdapi/v1/txt2img {" + init + "}", "init_images");
            refused.put("/sdapi/v1/txt2img {\"enable_hr\": true, \"hr_scale\": 0.5}", "hr_scale");
            refused.put("/sdapi/v1/txt2img {\"enable_hr\": true, \"hr_upscaler\": \"Lanczos\"}", "hr_upscaler");
            refused.put("/sdapi/v1/txt2img {\"enable_hr\": true, \"hr_sampler_name\": \"Euler a\"}", "hr_sampler_name");
            refused.put("/sdapi/v1/txt2img {\"enable_hr\": true, \"denoising_strength\": 0}", "denoising_strength");
            refused.put("/sdapi/v1/txt2img {\"enable_hr\": true, \"hr_scale\": 1.3}", "hr_scale");
            for (Map.Entry<String, String> c : refused.entrySet()) {
                String path = c.getKey().substring(0, c.getKey().indexOf(' '));
                Response r = postJson(client, path, c.getKey().substring(c.getKey().indexOf(' ') + 1));
                String body = r.body().string();
                assertEquals(422, r.code(), c.getKey() + " " + body);
                assertTrue(body.contains("\"field\":\"" + c.getValue() + "\""), c.getKey() + " " + body);
            }
            assertEquals(0, store.list(1, 10).total());
        });
    }

    /** The generate page has the img2img upload and strength slider, the result's neighbour and the hires checkbox. */
    @Test
    void theFormHasImg2ImgAndHiresFields() {
        withApp((client, queue, store) -> {
            String index = client.get("/").body().string();
            assertTrue(index.matches("(?s).*<input id=\"init_image\" name=\"init_image\" type=\"file\" accept=\"image/png[^\"]*\">.*"), index);
            assertTrue(index.matches("(?s).*<input id=\"denoising_strength\"[^>]*type=\"range\" min=\"0\" max=\"1\".*"), index);
            assertTrue(index.matches("(?s).*<div class=\"side-by-side\">\\s*<figure id=\"init-box\" hidden>.*<figure id=\"result\" hidden>.*"));
            assertTrue(index.contains("<input id=\"enable_hr\" name=\"enable_hr\" type=\"checkbox\">"), index);
            for (dev.tenstep.pipeline.LatentUpscaler u : dev.tenstep.pipeline.LatentUpscaler.values()) {
                assertTrue(index.contains("<option value=\"" + u.a1111Name() + "\">" + u.a1111Name() + "</option>"), u.a1111Name());
            }
            String js = client.get("/static/index.js").body().string();
            assertTrue(js.contains("body.init_image = initImage") && js.contains("body.enable_hr = true"), "the page sends them");
        });
    }
}
