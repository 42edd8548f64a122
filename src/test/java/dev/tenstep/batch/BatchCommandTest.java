package dev.tenstep.batch;

import dev.tenstep.cli.Main;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The {@code batch} subcommand end to end: exit codes and messages. */
class BatchCommandTest {
    @TempDir
    Path tmp;

    private record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    /** Runs with {@code System.err} captured too (SLF4J and the progress bar write there, not to picocli's err). */
    private static Run run(ByteArrayOutputStream systemErr, String... args) {
        PrintStream old = System.err;
        System.setErr(new PrintStream(systemErr, true, StandardCharsets.UTF_8));
        try {
            return run(args);
        } finally {
            System.setErr(old);
        }
    }

    private static int count(String text, String part) {
        int n = 0;
        for (int i = text.indexOf(part); i >= 0; i = text.indexOf(part, i + 1)) {
            n++;
        }
        return n;
    }

    /**
     * Prompt-file lines with {@code --init-image} (img2img) and {@code --hr-scale} (hires fix): each image has its
     * size, the manifest records the init image and strength, and a resume redoes a line whose strength changed.
     */
    @Test
    void promptFileLinesTakeInitImagesAndTheHiresFix() throws IOException {
        Path init = Fixtures.root().resolve("img2img/init_image.png");
        Path f = tmp.resolve("i.txt");
        Files.write(f, List.of("--prompt 'a sunset' --init-image '" + init + "' --strength 0.5 --seed 3",
                "--prompt 'a castle' --hr-scale 1.5 --hr-steps 1 --seed 4"));
        Path out = tmp.resolve("out");
        String model = Fixtures.dir(Fixtures.SD15).toString();
        Run r = run("batch", "--model", model, "--prompts", f.toString(), "--output", out.toString(), "--steps", "2",
                "--no-progress");
        assertEquals(0, r.exit(), r.err());
        List<String> manifest = Files.readAllLines(out.resolve(Manifest.FILE));
        assertEquals(2, manifest.size());
        assertTrue(manifest.get(0).contains("\"img2img\":{\"init_image\":\"init_image.png\",\"init_image_sha256\":\"")
                && manifest.get(0).contains("\"denoising_strength\":0.5,\"step_rule\":\"diffusers\",\"steps_run\":1}"),
                manifest.get(0));
        assertTrue(manifest.get(0).contains("Denoising strength: 0.5"), manifest.get(0));
        assertTrue(manifest.get(1).contains("\"hires\":{\"hr_upscaler\":\"Latent\",\"hr_scale\":1.5,"
                + "\"hr_resize_x\":0,\"hr_resize_y\":0,\"hr_second_pass_steps\":1,\"denoising_strength\":0.75,"
                + "\"width\":96,\"height\":96}"), manifest.get(1));
        assertEquals(64, javax.imageio.ImageIO.read(out.resolve("i-0001-ge-log-linear.png").toFile()).getWidth());
        assertEquals(96, javax.imageio.ImageIO.read(out.resolve("i-0002-ge-log-linear.png").toFile()).getWidth());

        Files.write(f, List.of("--prompt 'a sunset' --init-image '" + init + "' --strength 1 --seed 3",
                "--prompt 'a castle' --hr-scale 1.5 --hr-steps 1 --seed 4"));
        Run again = run("batch", "--model", model, "--prompts", f.toString(), "--output", out.toString(), "--steps", "2",
                "--no-progress", "--resume");
        assertTrue(again.out().contains("done: 1 generated, 1 skipped, 0 failed"), again.out());
    }

    @Test
    void badLineIsReportedWithFileAndLineAndTheRunGoesOnWithExitCode1() throws IOException {
        Path f = tmp.resolve("p.txt");
        Files.write(f, List.of("# comment", "a red barn", "--prompt x --steps lots", "--prompt 'a blue door' --seed 4"));
        Path out = tmp.resolve("out");
        Run r = run("batch", "--model", Fixtures.dir(Fixtures.SD15).toString(), "--prompts", f.toString(),
                "--output", out.toString(), "--steps", "2", "--seed", "20", "--no-progress");
        assertEquals(1, r.exit(), r.err());
        assertTrue(r.err().contains("error: " + f + ":3: "), r.err());
        assertTrue(r.err().contains("--steps"), r.err());
        assertTrue(r.out().contains("seed base: 20"), r.out());
        assertTrue(r.out().contains("done: 2 generated, 0 skipped, 1 failed"), r.out());
        assertTrue(Files.isRegularFile(out.resolve("p-0002-ge-log-linear.png")));
        assertTrue(Files.isRegularFile(out.resolve("p-0004-ge-log-linear.png")));
        assertEquals(2, Files.readAllLines(out.resolve(Manifest.FILE)).size());
        assertTrue(Files.isRegularFile(out.resolve(BatchRunner.INDEX)));

        Run again = run("batch", "--model", Fixtures.dir(Fixtures.SD15).toString(), "--prompts", f.toString(),
                "--output", out.toString(), "--steps", "2", "--seed", "20", "--no-progress");
        assertTrue(again.out().contains("done: 0 generated, 2 skipped, 1 failed"), again.out());
    }

    @Test
    void badCommandLineExits2() throws IOException {
        Path f = tmp.resolve("p.txt");
        Files.write(f, List.of("x"));
        Run r = run("batch", "--model", Fixtures.dir(Fixtures.SD15).toString(), "--prompts", f.toString(),
                "--output", tmp.resolve("o").toString(), "--compare", "ddim:ddim,heun");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--compare") && r.err().contains("unknown sampler 'heun'"), r.err());
        Run missing = run("batch", "--prompts", tmp.resolve("nope.txt").toString(), "--output", tmp.toString());
        assertEquals(2, missing.exit());
        assertTrue(missing.err().contains("no such file"), missing.err());
    }

    @Test
    void tornManifestLineIsReportedOnce() throws IOException {
        Path f = tmp.resolve("t.txt");
        Files.write(f, List.of("one", "two"));
        Path out = tmp.resolve("t");
        String model = Fixtures.dir(Fixtures.SD15).toString();
        assertEquals(0, run("batch", "--model", model, "--prompts", f.toString(), "--output", out.toString(),
                "--steps", "1", "--seed", "3", "--no-progress").exit());
        Path m = out.resolve(Manifest.FILE);
        String text = Files.readString(m);
        assertFalse(text.contains("model_hash"), "a diffusers folder has no model hash: " + text);
        Files.writeString(m, text + text.substring(0, 30));
        ByteArrayOutputStream sysErr = new ByteArrayOutputStream();
        Run r = run(sysErr, "batch", "--model", model, "--prompts", f.toString(), "--output", out.toString(),
                "--steps", "1", "--seed", "3", "--no-progress");
        assertEquals(0, r.exit(), r.err());
        String all = sysErr.toString(StandardCharsets.UTF_8) + r.err();
        assertEquals(1, count(all, "manifest.jsonl:3: torn last line"), all);
        assertTrue(r.err().contains("warning: manifest.jsonl:3: torn last line"), r.err());
        assertTrue(r.out().contains("done: 0 generated, 2 skipped, 0 failed"), r.out());
    }

    @Test
    void withoutATerminalProgressIsPlainLinesAndRandomLineSeedsArePrinted() throws IOException {
        // surefire runs without a console: the batch must not draw carriage-return frames
        Path f = tmp.resolve("r.txt");
        Files.write(f, List.of("--prompt one --seed -1", "two"));
        Path out = tmp.resolve("r");
        ByteArrayOutputStream sysErr = new ByteArrayOutputStream();
        Run r = run(sysErr, "batch", "--model", Fixtures.dir(Fixtures.SD15).toString(), "--prompts", f.toString(),
                "--output", out.toString(), "--steps", "2", "--seed", "50");
        assertEquals(0, r.exit(), r.err());
        String all = sysErr.toString(StandardCharsets.UTF_8) + r.err() + r.out();
        assertFalse(all.contains("\r"), "no carriage returns: " + all);
        assertTrue(r.out().contains("[1/2] ") && r.out().contains("[2/2] "), r.out());
        java.util.regex.Matcher seed = java.util.regex.Pattern.compile(java.util.regex.Pattern.quote(f + ":1: random seed ")
                + "(\\d+)\n").matcher(r.out());
        assertTrue(seed.find(), r.out());
        String line = Files.readAllLines(out.resolve(Manifest.FILE)).get(0);
        assertTrue(line.contains("\"seed\":" + seed.group(1) + ",") && line.contains("\"random_seed\":true"), line);

        Run again = run("batch", "--model", Fixtures.dir(Fixtures.SD15).toString(), "--prompts", f.toString(),
                "--output", out.toString(), "--steps", "2", "--seed", "50", "--no-progress");
        assertTrue(again.out().contains(f + ":1: random seed " + seed.group(1) + " (from the manifest)"), again.out());
        assertTrue(again.out().contains("done: 0 generated, 2 skipped"), again.out());
    }

    @Test
    void manifestCarriesTheModelHashOfASingleFile() throws IOException {
        Path f = tmp.resolve("h.txt");
        Files.write(f, List.of("a red barn"));
        Path out = tmp.resolve("h");
        Run r = run("batch", "--model", Fixtures.writableCopy("single-file/tiny-sd15.safetensors").toString(),
                "--config", Fixtures.dir(Fixtures.SD15).toString(), "--prompts", f.toString(), "--output", out.toString(),
                "--steps", "1", "--seed", "3", "--no-progress");
        assertEquals(0, r.exit(), r.err());
        com.fasterxml.jackson.databind.JsonNode line = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(Files.readAllLines(out.resolve(Manifest.FILE)).get(0));
        assertEquals("tiny-sd15", line.get("model").asText());
        // A1111's short hash: the first 10 hex digits of the file's SHA-256
        assertEquals("3e4a28f774", line.get("model_hash").asText());
        assertTrue(line.get("infotext").asText().contains("Model hash: 3e4a28f774, Model: tiny-sd15"), line.toString());
    }

    @Test
    void threadsMustBeAtLeastOne() throws IOException {
        Path f = tmp.resolve("p.txt");
        Files.write(f, List.of("x"));
        for (String n : List.of("0", "-2")) {
            Run r = run("batch", "--model", Fixtures.dir(Fixtures.SD15).toString(), "--prompts", f.toString(),
                    "--output", tmp.resolve("o").toString(), "--threads", n);
            assertEquals(2, r.exit(), r.err());
            assertTrue(r.err().contains("--threads") && r.err().contains("must be at least 1, got " + n), r.err());
        }
        assertFalse(Files.exists(tmp.resolve("o")), "rejected before any work");
    }
}
