package dev.tenstep.cli;

import dev.tenstep.fidelity.ShapeAnalyser;
import dev.tenstep.io.PngImages;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** generate and batch without --model choose the model serve would: with an empty models/ folder, ideal:shapes. */
class DefaultModelTest {
    @TempDir
    Path home;

    private GenerateCommandTest.Run inHome(String... args) throws Exception {
        Files.createDirectories(home.resolve("models"));
        String before = System.getProperty("tenstep.home");
        System.setProperty("tenstep.home", home.toString());
        try {
            return GenerateCommandTest.run(args);
        } finally {
            if (before == null) {
                System.clearProperty("tenstep.home");
            } else {
                System.setProperty("tenstep.home", before);
            }
        }
    }

    @Test
    void generateWithoutModelUsesIdealShapesAndSaysSo() throws Exception {
        Path png = home.resolve("red.png");
        GenerateCommandTest.Run r = inHome("generate", "--prompt", "a red circle", "--steps", "10", "--cfg-scale", "3",
                "--seed", "1", "--no-progress", "-o", png.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("using ideal:shapes"), r.err());
        String params = PngImages.readText(png).get(PngImages.PARAMETERS);
        assertTrue(params.contains("Model: \"ideal:shapes\""), params);
        // at CFG 3 and N = 10 GE draws the prompt on the exact denoiser (docs/fidelity.md)
        ShapeAnalyser.Reading read = ShapeAnalyser.read(javax.imageio.ImageIO.read(png.toFile()));
        assertEquals("red", read.colour());
        assertEquals("circle", read.shape());
    }

    @Test
    void batchWithoutModelUsesIdealShapes() throws Exception {
        Path prompts = home.resolve("p.txt");
        Files.write(prompts, List.of("a green square"));
        GenerateCommandTest.Run r = inHome("batch", "--prompts", prompts.toString(), "--output", home.resolve("out").toString(),
                "--steps", "5", "--seed", "2", "--no-progress");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("using ideal:shapes"), r.err());
        assertTrue(Files.readString(home.resolve("out/manifest.jsonl")).contains("ideal:shapes"));
    }
}
