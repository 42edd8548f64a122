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
}
