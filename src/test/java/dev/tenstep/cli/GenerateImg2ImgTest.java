package dev.tenstep.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.io.PngImages;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.Map;

import static dev.tenstep.cli.GenerateCommandTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code generate --init-image} and {@code --hr-scale} against the img2img fixture: the command of issue 20
 * reproduces case 2 at strength 0.6 from the PNG, and the hires fix case 5's fixed-steps run; refusals name the
 * option.
 */
class GenerateImg2ImgTest {
    @TempDir
    Path tmp;

    private static Path fixture(String file) {
        return Fixtures.root().resolve("img2img").resolve(file);
    }

    private static JsonNode tolerance(String caseId, String tensor) throws Exception {
        for (JsonNode c : new ObjectMapper().readTree(fixture("cases.json").toFile()).get("cases")) {
            if (c.get("id").asText().equals(caseId)) {
                return c.get("tolerance").get(tensor);
            }
        }
        throw new AssertionError("no case " + caseId);
    }

    private static void check(String caseId, String tensor, NDArray expected, NDArray actual) throws Exception {
        JsonNode t = tolerance(caseId, tensor);
        Allclose.assertClose("generate " + tensor, expected, actual, t.get("atol").asDouble(), t.get("rtol").asDouble());
    }

    /** Issue 20: {@code generate --model tiny-sd15 --init-image init_image.png --strength 0.6 --seed 1560 --rng torch-cpu --sampler ddim}. */
    @Test
    void theIssuesCommandReproducesTheFixtureFromThePng() throws Exception {
        Path png = tmp.resolve("out.png");
        Path saved = tmp.resolve("latents.safetensors");
        GenerateCommandTest.Run r = run("generate", "--model", Fixtures.dir(Fixtures.SD15).toString(), "--no-progress",
                "--prompt", "a photo of an astronaut riding a horse on mars", "--cfg-scale", "7.5",
                "--init-image", fixture("init_image.png").toString(), "--strength", "0.6", "--seed", "1560",
                "--rng", "torch-cpu", "--sampler", "ddim", "--save-latents", saved.toString(), "-o", png.toString());
        assertEquals(0, r.exit(), r.err());
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> ref = SafeTensors.read(fixture("reference/img2img_ddim.safetensors"), m);
            Map<String, NDArray> got = SafeTensors.read(saved, m);
            check("img2img_ddim", "s0_6.final_latents", ref.get("s0_6.final_latents"), got.get("final_latents"));
            // the noise the seed added (its second draw), as --init-latents reads it back
            Allclose.assertClose("generate noise", ref.get("noise"), got.get("initial_latents"), 0, 0);
            Allclose.assertExact("generate timesteps", ref.get("s0_6.timesteps"), got.get("timesteps"));
            assertEquals(6, got.get("x0_hat_per_step").getShape().get(0));
        }
        String params = PngImages.readText(png).get(PngImages.PARAMETERS);
        assertTrue(params.endsWith("Steps: 10, Sampler: DDIM, Schedule type: ddim, CFG scale: 7.5, Seed: 1560, Size: 64x64, "
                + "Model: tiny-sd15, Denoising strength: 0.6, RNG: CPU"), params);
    }

    @Test
    void hiresFixFromTheCommandLine() throws Exception {
        Path png = tmp.resolve("hr.png");
        Path saved = tmp.resolve("hr.safetensors");
        GenerateCommandTest.Run r = run("generate", "--model", Fixtures.dir(Fixtures.SD15).toString(), "--no-progress",
                "--prompt", "a photo of an astronaut riding a horse on mars", "--cfg-scale", "7.5", "--seed", "1530",
                "--rng", "torch-cpu", "--sampler", "ddim", "--hr-scale", "2", "--hr-upscaler", "Latent (nearest-exact)",
                "--hr-strength", "0.7", "--save-latents", saved.toString(), "-o", png.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("(128x128, "), r.out());
        BufferedImage img = ImageIO.read(png.toFile());
        assertEquals(128, img.getWidth());
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> ref = SafeTensors.read(fixture("reference/hires.safetensors"), m);
            Map<String, NDArray> got = SafeTensors.read(saved, m);
            check("hires", "latent_nearest_exact.fixed_steps_rule.final_latents",
                    ref.get("latent_nearest_exact.fixed_steps_rule.final_latents"), got.get("final_latents"));
            // the first pass's starting noise, at the first pass's size
            Allclose.assertClose("generate initial_latents", ref.get("initial_latents"), got.get("initial_latents"), 0, 0);
        }
        String params = PngImages.readText(png).get(PngImages.PARAMETERS);
        assertTrue(params.endsWith("Size: 64x64, Model: tiny-sd15, Denoising strength: 0.7, RNG: CPU, Hires upscale: 2, "
                + "Hires upscaler: Latent (nearest-exact)"), params);
    }

    @Test
    void refusalsNameTheOption() {
        String model = Fixtures.dir(Fixtures.SD15).toString();
        String init = fixture("init_image.png").toString();
        GenerateCommandTest.Run r = run("generate", "--model", model, "--strength", "0.5");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--strength: needs --init-image"), r.err());

        r = run("generate", "--model", model, "--init-image", init, "--strength", "0.05");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--strength: runs no step at 10 steps: the diffusers rule runs int(steps x strength) "
                + "= int(10 x 0.05) = 0 steps; use a strength of at least 1/steps (0.1)"), r.err());

        r = run("generate", "--model", model, "--init-image", init, "--strength", "1.5");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--strength: must be between 0 and 1, got 1.5"), r.err());

        r = run("generate", "--model", model, "--init-image", tmp.resolve("missing.png").toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--init-image: ") && r.err().contains("missing.png: no such file"), r.err());

        r = run("generate", "--model", model, "--init-image", init, "--img2img-steps", "comfy");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--img2img-steps: unknown img2img step rule 'comfy' (valid: diffusers, a1111)"), r.err());

        r = run("generate", "--model", model, "--hr-scale", "2", "--hr-upscaler", "R-ESRGAN 4x+");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--hr-upscaler: unknown latent upscaler 'R-ESRGAN 4x+'") 
                && r.err().contains("pixel-space upscalers (ESRGAN and others) are not supported"), r.err());

        r = run("generate", "--model", model, "--hr-strength", "0.5");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--hr-strength: needs --hr-scale"), r.err());

        r = run("generate", "--model", model, "--no-progress", "--hr-scale", "2", "--hr-strength", "0");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--hr-strength: must be above 0 and at most 1 for the hires fix"), r.err());

        r = run("generate", "--model", model, "--no-progress", "--hr-scale", "2", "--init-image", init);
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--hr-scale: the hires fix is for text-to-image"), r.err());
    }
}
