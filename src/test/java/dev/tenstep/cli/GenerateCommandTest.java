package dev.tenstep.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.io.PngImages;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.pipeline.Images;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The {@code generate} command end to end on the fixtures, and its argument errors. */
class GenerateCommandTest {
    @TempDir
    Path tmp;

    record Run(int exit, String out, String err) {
    }

    static Run run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    /** Done-when of issue 2: fixture case 7's starting noise in, GE (default) final latents and PNG pixels out. */
    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21})
    void generateWithInitLatentsReproducesTheReferenceGeRun(String fixture) throws Exception {
        Path init = tmp.resolve("init.safetensors");
        Path saved = tmp.resolve("saved.safetensors");
        Path png = tmp.resolve("out.png");
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> inputs = SafeTensors.read(Fixtures.reference(fixture, "pipeline_ddim.safetensors"), m);
            SafeTensors.write(init, Map.of(GenerateCommand.INITIAL_LATENTS, inputs.get("initial_latents")), Map.of());
            Run r = run("generate", "--model", Fixtures.dir(fixture).toString(), "--no-progress",
                    "--prompt", "a photo of an astronaut riding a horse on mars", "--seed", "7",
                    "--init-latents", init.toString(), "--save-latents", saved.toString(), "-o", png.toString());
            assertEquals(0, r.exit(), r.err());
            assertTrue(r.out().contains("seed: 7"), r.out());

            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(fixture, "sigma_sampler.safetensors"), m);
            Map<String, NDArray> got = SafeTensors.read(saved, m);
            Allclose.assertClose(fixture + " generate final_latents", ref.get("f_loglinear_g2.final_latents"),
                    got.get("final_latents"), Fixtures.tolerance(fixture, "sigma_sampler", "f_loglinear_g2.final_latents"));
            Allclose.assertClose(fixture + " generate x0_hat_per_step", ref.get("f_loglinear_g2.x0_hat_per_step"),
                    got.get("x0_hat_per_step"), Fixtures.tolerance(fixture, "sigma_sampler", "f_loglinear_g2.x0_hat_per_step"));

            BufferedImage img = ImageIO.read(png.toFile());
            float[] expected = ref.get("f_loglinear_g2.final_image").toFloatArray();
            int w = img.getWidth();
            int h = img.getHeight();
            assertEquals(expected.length, 3 * w * h);
            int differing = 0;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int rgb = img.getRGB(x, y);
                    int[] px = {(rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255};
                    for (int c = 0; c < 3; c++) {
                        float e = expected[c * w * h + y * w + x];
                        int want = Images.to8bit(e);
                        if (want != px[c]) {
                            // only a value on a rounding boundary (x.5 after scaling) may round the other way
                            double v = Math.min(1, Math.max(0, (e + 1.0) / 2.0)) * 255.0;
                            assertEquals(1, Math.abs(want - px[c]));
                            assertEquals(0.5, v - Math.floor(v), 0.01);
                            differing++;
                        }
                    }
                }
            }
            System.out.printf("[generate] %s PNG: %d of %d 8-bit values on a rounding boundary differ by 1%n", fixture, differing, 3 * w * h);

            String params = PngImages.readText(png).get(PngImages.PARAMETERS);
            assertEquals("a photo of an astronaut riding a horse on mars\nSteps: 10, Sampler: GE, Schedule type: log-linear, CFG scale: 7.5, Seed: 7, Size: "
                    + w + "x" + h + ", Model: " + fixture + ", Init latents: init.safetensors", params);
            assertEquals("rw-r--r--", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(png)));
        }
    }

    @Test
    void unicodePromptAndNegativePromptGoToTheInfotext() throws Exception {
        Path png = tmp.resolve("u.png");
        Run r = run("generate", "--model", Fixtures.dir(Fixtures.SD15).toString(), "--no-progress", "--steps", "2",
                "--prompt", "rocket \uD83D\uDE80 at night", "--negative_prompt", "blurry", "--seed", "3",
                "--sampler", "DDIM", "-o", png.toString());
        assertEquals(0, r.exit(), r.err());
        String params = PngImages.readText(png).get(PngImages.PARAMETERS);
        assertEquals("rocket \uD83D\uDE80 at night\nNegative prompt: blurry\nSteps: 2, Sampler: DDIM, Schedule type: ddim, "
                + "CFG scale: 7.5, Seed: 3, Size: 64x64, Model: tiny-sd15", params);
    }

    /** The sliced attention path gives the fused path's image, and the setting ends with the command. */
    @Test
    void attentionSliceOptionKeepsTheImageAndIsScopedToTheCommand() throws Exception {
        String model = Fixtures.dir(Fixtures.SD15).toString();
        Path fused = tmp.resolve("fused.png");
        Path sliced = tmp.resolve("sliced.png");
        Run a = run("generate", "--model", model, "--no-progress", "--steps", "2", "--seed", "5", "-o", fused.toString());
        assertEquals(0, a.exit(), a.err());
        Run b = run("generate", "--model", model, "--no-progress", "--steps", "2", "--seed", "5", "--attention-slice", "3",
                "-o", sliced.toString());
        assertEquals(0, b.exit(), b.err());
        assertEquals(dev.tenstep.model.nn.AttentionSettings.DEFAULT, dev.tenstep.model.nn.AttentionSettings.current());
        java.awt.image.BufferedImage x = javax.imageio.ImageIO.read(fused.toFile());
        java.awt.image.BufferedImage y = javax.imageio.ImageIO.read(sliced.toFile());
        int worst = 0;
        for (int j = 0; j < x.getHeight(); j++) {
            for (int i = 0; i < x.getWidth(); i++) {
                for (int shift = 0; shift < 24; shift += 8) {
                    worst = Math.max(worst, Math.abs((x.getRGB(i, j) >> shift & 255) - (y.getRGB(i, j) >> shift & 255)));
                }
            }
        }
        // same maths, different summation order: at most one 8-bit level apart
        assertTrue(worst <= 1, "fused vs 3-row slices differ by " + worst + " levels");
    }

    @Test
    void badArgumentsExitNonZeroNamingTheArgument() throws Exception {
        String model = Fixtures.dir(Fixtures.SD15).toString();
        Run r = run("generate", "--model", model, "-W", "30");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--width: must be a multiple of 4, got 30"), r.err());

        r = run("generate", "--model", model, "--steps", "0");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--steps: must be between 1 and 1000, got 0"), r.err());

        r = run("generate", "--model", model, "--sampler", "heun");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--sampler: unknown sampler 'heun' (valid: ddim, ge, ddpm, dpmpp-2m, euler)"), r.err());

        r = run("generate", "--model", model, "--schedule", "cosine");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("unknown schedule 'cosine'"), r.err());

        r = run("generate", "--model", model, "--attention-slice", "lots", "-o", tmp.resolve("a.png").toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--attention-slice must be fused, auto, off (or 0) or a positive number of query rows, got 'lots'"),
                r.err());
        assertFalse(Files.exists(tmp.resolve("a.png")));

        r = run("generate", "--model", model, "--rng", "foo");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--rng: unknown rng 'foo'"), r.err());

        r = run("generate", "--model", model, "--prompt", "a (x:1.2.3) cube");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--prompt: emphasis weight '1.2.3'"), r.err());

        r = run("generate", "--model", tmp.resolve("nope").toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--model: not found: "), r.err());

        Path truncated = tmp.resolve("init.safetensors");
        Files.write(truncated, new byte[] {100, 0, 0, 0, 0, 0, 0, 0, '{'});
        r = run("generate", "--model", model, "--init-latents", truncated.toString(), "-o", tmp.resolve("x.png").toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--init-latents: ") && r.err().contains("init.safetensors") && r.err().contains("header length 100"), r.err());
        assertFalse(Files.exists(tmp.resolve("x.png")));

        Files.createDirectories(tmp.resolve("adir"));
        r = run("generate", "--model", model, "-o", tmp.resolve("adir").toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--output: cannot write " + tmp.resolve("adir") + ": it is a folder"), r.err());

        r = run("generate", "--model", model, "-o", tmp.resolve("x.jpg").toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--output: " + tmp.resolve("x.jpg") + " must be a .png file"), r.err());

        try (NDManager m = NDManager.newBaseManager()) {
            Path nan = tmp.resolve("nan.safetensors");
            SafeTensors.write(nan, Map.of(GenerateCommand.INITIAL_LATENTS, m.full(new ai.djl.ndarray.types.Shape(1, 4, 16, 16), Float.NaN)), Map.of());
            r = run("generate", "--model", model, "--init-latents", nan.toString(), "-o", tmp.resolve("n.png").toString());
            assertEquals(2, r.exit());
            assertTrue(r.err().contains("--init-latents: tensor 'initial_latents' in " + nan + " holds NaN or infinite values"), r.err());
        }

        r = run();
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("missing command") && r.err().contains("generate"), r.err());
    }

    @Test
    void withoutATerminalProgressIsOneLinePerStepNotABar() throws Exception {
        // surefire runs without a console, as when stderr is redirected: no carriage-return frames
        ByteArrayOutputStream sysErr = new ByteArrayOutputStream();
        PrintStream old = System.err;
        Run r;
        System.setErr(new PrintStream(sysErr, true, StandardCharsets.UTF_8));
        try {
            r = run("generate", "--model", Fixtures.dir(Fixtures.SD15).toString(), "--steps", "2", "--seed", "1",
                    "--prompt", "x", "-o", tmp.resolve("p.png").toString());
        } finally {
            System.setErr(old);
        }
        assertEquals(0, r.exit(), r.err());
        String all = sysErr.toString(StandardCharsets.UTF_8) + r.err();
        assertFalse(all.contains("\r"), "no carriage returns: " + all);
        assertFalse(all.contains("denoise"), "no bar: " + all);
        assertTrue(r.err().contains("step 1/2 sigma ") && r.err().contains("step 2/2 sigma "), r.err());

        Run quiet = run("generate", "--model", Fixtures.dir(Fixtures.SD15).toString(), "--steps", "1", "--seed", "1",
                "--prompt", "x", "--no-progress", "-o", tmp.resolve("q.png").toString());
        assertEquals(0, quiet.exit(), quiet.err());
        assertFalse(quiet.err().contains("step "), quiet.err());
    }

    @Test
    void terminalDevicesAreRecognised() {
        assertTrue(Terminals.isTerminalDevice("/dev/pts/3"));
        assertTrue(Terminals.isTerminalDevice("/dev/tty1"));
        assertFalse(Terminals.isTerminalDevice("pipe:[12345]"));
        assertFalse(Terminals.isTerminalDevice("/home/me/log.txt"));
        assertFalse(Terminals.isTerminalDevice("/dev/null"));
        assertFalse(Terminals.stderrIsTerminal(), "tests run without a console");
    }

    @Test
    void threadsMustBeAtLeastOneForGenerateAndBench() {
        String model = Fixtures.dir(Fixtures.SD15).toString();
        for (String cmd : List.of("generate", "bench")) {
            for (String n : List.of("0", "-1")) {
                Run r = run(cmd, "--model", model, "--threads", n);
                assertEquals(2, r.exit(), cmd + " " + r.err());
                assertTrue(r.err().contains("--threads") && r.err().contains("must be at least 1, got " + n), r.err());
            }
            Run word = run(cmd, "--model", model, "--threads", "many");
            assertEquals(2, word.exit());
            assertTrue(word.err().contains("--threads") && word.err().contains("'many'"), word.err());
        }
    }
}
