package dev.tenstep.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code fidelity} end to end on the ideal shapes model and the tiny SD 1.5 fixture, and its input errors. */
class FidelityCommandTest {
    record Result(int code, String out, String err) {
    }

    static Result run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void idealShapesTableAndFiles(@TempDir Path dir) throws Exception {
        Result r = run("fidelity", "--model", "ideal:shapes", "--prompt", "a red circle", "--seeds", "0-1",
                "--cfg-scale", "3", "--sampler", "ge,ddim:log-linear,dpmpp-2m", "--steps", "5,10",
                "--reference-steps", "60", "--output", dir.toString());
        assertEquals(0, r.code(), r.err());
        System.out.print(r.out());
        assertTrue(r.out().contains("ge:log-linear"), r.out());
        assertTrue(r.out().contains("dpmpp-2m:karras"), r.out());
        assertTrue(r.out().contains("vs 30 steps: rms"), r.out());
        JsonNode j = new ObjectMapper().readTree(dir.resolve("fidelity.json").toFile());
        assertEquals(6, j.get("summary").size());
        assertEquals(12, j.get("runs").size());
        assertEquals(2, j.get("reference_checks").size());
        assertEquals(60, j.get("reference").get("steps").asInt());
        assertTrue(Files.size(dir.resolve("fidelity.png")) > 1000);
    }

    @Test
    void stableDiffusionFixtureModel(@TempDir Path dir) {
        Result r = run("fidelity", "--model", Fixtures.dir(Fixtures.SD15).toString(), "--prompt", "a photo of a cat",
                "--seeds", "3", "--sampler", "ge,ddim", "--steps", "2", "--reference-steps", "6", "--check-steps", "0",
                "--output", dir.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("ddim:ddim"), r.out());
        // no --cfg-scale: the model's default (SD: 7.5), said in the header as generate would use it
        assertTrue(r.out().contains("CFG 7.5 (the model's default)"), r.out());
        assertTrue(Files.exists(dir.resolve("fidelity.csv")));
    }

    /** An SDXL folder (both encoders, added conditioning) through the command, with small step counts. */
    @Test
    void sdxlFixtureModel(@TempDir Path dir) throws Exception {
        Result r = run("fidelity", "--model", Fixtures.dir(Fixtures.SDXL).toString(), "--prompt", "a photo of a cat",
                "--seeds", "3", "--sampler", "ge,ddim:log-linear", "--steps", "2,4", "--reference-steps", "8",
                "--check-steps", "4", "--output", dir.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("fidelity study: tiny-sdxl,") && r.out().contains("ge:log-linear"), r.out());
        JsonNode j = new ObjectMapper().readTree(dir.resolve("fidelity.json").toFile());
        assertEquals(4, j.get("runs").size(), "2 samplers x 2 step counts x 1 seed");
        assertEquals(1, j.get("reference_checks").size());
        for (JsonNode run : j.get("runs")) {
            double rmse = run.get("latent_rmse").asDouble();
            assertTrue(rmse > 0 && Double.isFinite(rmse), run.toString());
        }
    }

    @Test
    void inputErrorsNameTheProblem(@TempDir Path dir) {
        Result r = run("fidelity", "--model", "ideal:shapes", "--prompt", "a mauve circle", "--seeds", "0",
                "--output", dir.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("unknown word mauve") && r.err().contains("known words: "), r.err());
        r = run("fidelity", "--model", "ideal:shapes", "--prompt", "a red circle", "--sampler", "ddpm");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--sampler: sampler 'ddpm' is stochastic"), r.err());
        r = run("fidelity", "--model", "ideal:shapes", "--prompt", "a red circle", "--seeds", "x-3");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--seeds: expected numbers and ranges"), r.err());
        r = run("fidelity", "--model", "ideal:" + dir.resolve("missing"), "--prompt", "a");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--model: image folder not found"), r.err());
        assertEquals(List.of(0L, 1L, 2L, 7L), FidelityCommand.parseSeeds(null, "0-2, 7"));
    }
}
