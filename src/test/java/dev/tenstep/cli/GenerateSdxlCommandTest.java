package dev.tenstep.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code generate --model <the tiny SDXL folder>} end to end: a PNG of the default size (unet sample_size x VAE scale =
 * 128) with A1111 infotext, whose latents are tiny-sdxl's reference runs (GE on log-linear by default, case 11; Euler,
 * case 9); and {@code generate --model <the tiny SDXL single file> --config <the folder>}, the same default run.
 */
class GenerateSdxlCommandTest {
    static final String PROMPT = "a photo of an astronaut riding a horse on mars";

    @TempDir
    Path tmp;

    private GenerateCommandTest.Run generate(Path init, Path saved, Path png, String... extra) {
        String[] base = {"generate", "--model", Fixtures.dir(Fixtures.SDXL).toString(), "--no-progress", "--prompt", PROMPT,
                "--seed", "7", "--init-latents", init.toString(), "--save-latents", saved.toString(), "-o", png.toString()};
        String[] args = new String[base.length + extra.length];
        System.arraycopy(base, 0, args, 0, base.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        return GenerateCommandTest.run(args);
    }

    @Test
    void defaultGeAndEulerRunsReproduceTheReferences() throws Exception {
        Path init = tmp.resolve("init.safetensors");
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> euler = SafeTensors.read(Fixtures.reference(Fixtures.SDXL, "pipeline_euler.safetensors"), m);
            SafeTensors.write(init, Map.of(GenerateCommand.INITIAL_LATENTS, euler.get("initial_latents")), Map.of());

            Path saved = tmp.resolve("ge.safetensors");
            Path png = tmp.resolve("ge.png");
            GenerateCommandTest.Run r = generate(init, saved, png);
            assertEquals(0, r.exit(), r.err());
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(Fixtures.SDXL, "sigma_sampler.safetensors"), m);
            Allclose.assertClose("generate sdxl GE final_latents", ref.get("f_loglinear_g2.final_latents"),
                    SafeTensors.read(saved, m).get("final_latents"),
                    Fixtures.tolerance(Fixtures.SDXL, "sigma_sampler", "f_loglinear_g2.final_latents"));
            BufferedImage img = ImageIO.read(png.toFile());
            assertEquals(128, img.getWidth(), "the model's default size");
            assertEquals(128, img.getHeight());
            assertEquals(PROMPT + "\nSteps: 10, Sampler: GE, Schedule type: log-linear, CFG scale: 7.5, Seed: 7, Size: 128x128, "
                    + "Model: tiny-sdxl, Init latents: init.safetensors", PngImages.readText(png).get(PngImages.PARAMETERS));

            Path savedEuler = tmp.resolve("euler.safetensors");
            Path pngEuler = tmp.resolve("euler.png");
            r = generate(init, savedEuler, pngEuler, "--sampler", "Euler");
            assertEquals(0, r.exit(), r.err());
            Allclose.assertClose("generate sdxl Euler final_latents", euler.get("final_latents"),
                    SafeTensors.read(savedEuler, m).get("final_latents"),
                    Fixtures.tolerance(Fixtures.SDXL, "pipeline_euler", "final_latents"));
            String params = PngImages.readText(pngEuler).get(PngImages.PARAMETERS);
            assertTrue(params.contains("Sampler: Euler, Schedule type: euler,") && params.contains("Size: 128x128")
                    && params.contains("Model: tiny-sdxl"), params);
        }
    }

    /**
     * The SGM-layout single file with the folder's configs: the default GE run of case 11 again, the PNG's infotext with
     * A1111's model hash (first 10 hex digits of the file's SHA-256, b9476ea9...) and name.
     */
    @Test
    void anSdxlSingleFileGeneratesTheFolderReference() throws Exception {
        Path init = tmp.resolve("init.safetensors");
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> euler = SafeTensors.read(Fixtures.reference(Fixtures.SDXL, "pipeline_euler.safetensors"), m);
            SafeTensors.write(init, Map.of(GenerateCommand.INITIAL_LATENTS, euler.get("initial_latents")), Map.of());
            Path saved = tmp.resolve("single.safetensors");
            Path png = tmp.resolve("single.png");
            GenerateCommandTest.Run r = GenerateCommandTest.run("generate", "--model",
                    Fixtures.writableCopy("single-file/tiny-sdxl.safetensors").toString(), "--config",
                    Fixtures.dir(Fixtures.SDXL).toString(), "--no-progress", "--prompt", PROMPT, "--seed", "7", "--init-latents",
                    init.toString(), "--save-latents", saved.toString(), "-o", png.toString());
            assertEquals(0, r.exit(), r.err());
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(Fixtures.SDXL, "sigma_sampler.safetensors"), m);
            Allclose.assertClose("generate sdxl single file GE final_latents", ref.get("f_loglinear_g2.final_latents"),
                    SafeTensors.read(saved, m).get("final_latents"),
                    Fixtures.tolerance(Fixtures.SDXL, "sigma_sampler", "f_loglinear_g2.final_latents"));
            BufferedImage img = ImageIO.read(png.toFile());
            assertEquals(128, img.getWidth());
            assertEquals(128, img.getHeight());
            assertEquals(PROMPT + "\nSteps: 10, Sampler: GE, Schedule type: log-linear, CFG scale: 7.5, Seed: 7, Size: 128x128, "
                    + "Model hash: b9476ea952, Model: tiny-sdxl, Init latents: init.safetensors",
                    PngImages.readText(png).get(PngImages.PARAMETERS));
        }
    }

    /**
     * {@code --original-size}, {@code --crop-top-left} and {@code --target-size} reach the SDXL request and its infotext
     * (only the parts that are not the defaults; sizes width first as {@code Size}, the record's JSON height first as
     * diffusers'); a malformed value is named before the model loads, and an SD 1.5 model refuses the options by name.
     */
    @Test
    void sizeConditioningOptions() throws Exception {
        Path png = tmp.resolve("micro.png");
        GenerateCommandTest.Run r = GenerateCommandTest.run("generate", "--model", Fixtures.dir(Fixtures.SDXL).toString(),
                "--no-progress", "--prompt", PROMPT, "--seed", "7", "--steps", "2", "--sampler", "ddim",
                "--original-size", "768x1024", "--crop-top-left", "48,16", "--target-size", "128x128", "-o", png.toString());
        assertEquals(0, r.exit(), r.err());
        assertEquals(PROMPT + "\nSteps: 2, Sampler: DDIM, Schedule type: ddim, CFG scale: 7.5, Seed: 7, Size: 128x128, "
                + "Model: tiny-sdxl, Original size: 768x1024, Crop top left: \"48,16\"",
                PngImages.readText(png).get(PngImages.PARAMETERS));

        r = GenerateCommandTest.run("generate", "--model", Fixtures.dir(Fixtures.SDXL).toString(), "--crop-top-left", "48x16",
                "--original-size", "0x768", "-o", tmp.resolve("bad.png").toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--crop-top-left: must be TOP,LEFT (pixels, e.g. 0,256), got '48x16'"), r.err());
        r = GenerateCommandTest.run("generate", "--model", Fixtures.dir(Fixtures.SDXL).toString(), "--original-size", "0x768",
                "-o", tmp.resolve("bad.png").toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--original-size: must be a height and a width of at least 1 pixel each, got height 768, "
                + "width 0"), r.err());

        r = GenerateCommandTest.run("generate", "--model", Fixtures.dir(Fixtures.SD15).toString(), "--steps", "1",
                "--target-size", "64x64", "-o", tmp.resolve("sd15.png").toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--target-size: is SDXL's size conditioning and applies to SDXL models only; tiny-sd15 is "
                + "not one (got height 64, width 64)"), r.err());
    }
}
