package dev.tenstep.cli;

import dev.tenstep.io.ModelHash;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.pipeline.ComputeSpec;
import dev.tenstep.pipeline.DemoModelWriter;
import dev.tenstep.pipeline.ModelCatalog;
import dev.tenstep.sampling.ideal.IdealModels;
import dev.tenstep.testing.Fixtures;
import dev.tenstep.web.ServedModel;
import io.javalin.Javalin;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code serve}'s argument and start-up errors: one line naming the problem, no stack trace, no model load first. */
class ServeCommandTest {
    @TempDir
    Path tmp;

    /** A model path that does not exist: a test that reaches the model load fails with "model folder not found". */
    private String noModel() {
        return tmp.resolve("no-such-model").toString();
    }

    private static void assertOneLine(GenerateCommandTest.Run r) {
        String err = r.err().strip();
        assertEquals(1, err.lines().count(), "one line: " + r.err());
        assertTrue(err.startsWith("error: "), r.err());
        assertFalse(err.contains("Exception") || err.contains("\tat "), "no stack trace: " + r.err());
    }

    @Test
    void invalidPortIsAnArgumentError() {
        for (String port : new String[] {"99999", "0", "-1", "65536"}) {
            GenerateCommandTest.Run r = GenerateCommandTest.run("serve", "--model", noModel(), "--port", port);
            assertEquals(2, r.exit(), port + ": " + r.err());
            assertOneLine(r);
            assertTrue(r.err().contains("--port") && r.err().contains(port), r.err());
            assertFalse(r.err().contains("model folder"), "checked before the model is loaded");
        }
    }

    @Test
    void otherOptionErrorsNameTheOption() {
        String[][] cases = {
                {"--workers", "0"}, {"--queue-size", "0"}, {"--max-size", "5000"}, {"--max-size", "0"}};
        for (String[] c : cases) {
            GenerateCommandTest.Run r = GenerateCommandTest.run("serve", "--model", noModel(), c[0], c[1]);
            assertEquals(2, r.exit(), String.join(" ", c) + ": " + r.err());
            assertOneLine(r);
            assertTrue(r.err().contains(c[0] + " ") && r.err().contains("got " + c[1]), r.err());
        }
    }

    @Test
    void busyPortIsReportedBeforeTheModelLoads() throws IOException {
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
            int port = taken.getLocalPort();
            GenerateCommandTest.Run r = GenerateCommandTest.run("serve", "--model", noModel(), "--port", Integer.toString(port));
            assertEquals(1, r.exit(), r.err());
            assertOneLine(r);
            assertEquals("error: port " + port + " is already in use on 127.0.0.1; pass --port N", r.err().strip());
        }
    }

    @Test
    void anAddressThatCannotBeBoundIsOneLine() throws IOException {
        // TEST-NET-3: never a local address
        GenerateCommandTest.Run r = GenerateCommandTest.run("serve", "--model", noModel(), "--host", "203.0.113.7", "--port", "7861");
        assertEquals(1, r.exit(), r.err());
        assertOneLine(r);
        assertTrue(r.err().contains("cannot listen on 203.0.113.7:7861"), r.err());
    }

    @Test
    void aStartFailureAfterTheProbeIsOneLine() throws IOException {
        // the port is taken between the probe and the start: Javalin's exception becomes one line
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
            int port = taken.getLocalPort();
            Javalin app = Javalin.create(c -> c.showJavalinBanner = false);
            IOException e = assertThrows(IOException.class, () -> ServeCommand.start(app, "127.0.0.1", port));
            assertEquals("port " + port + " is already in use on 127.0.0.1; pass --port N", e.getMessage());
        }
    }

    @Test
    void maxSizeBelowTheModelsDefaultSizeIsRefused() throws IOException {
        int free;
        try (ServerSocket s = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
            free = s.getLocalPort();
        }
        GenerateCommandTest.Run r = GenerateCommandTest.run("serve", "--model", Fixtures.dir(Fixtures.SD15).toString(),
                "--outputs", tmp.resolve("out").toString(), "--port", Integer.toString(free), "--max-size", "32");
        assertEquals(2, r.exit(), r.err());
        assertOneLine(r);
        assertTrue(r.err().contains("--max-size must be at least the model's default size (64 pixels), got 32"), r.err());
    }

    private Path link(Path models, String name, Path target) throws IOException {
        java.nio.file.Files.createDirectories(models);
        return java.nio.file.Files.createSymbolicLink(models.resolve(name), target);
    }

    private static Path sd15File() {
        return Fixtures.writableCopy("single-file/tiny-sd15.safetensors");
    }

    @Test
    void aSingleFileModelLoadsWithItsOptionsAndHash() throws IOException {
        Path models = tmp.resolve("models");
        Path file = link(models, "tiny-sd15.safetensors", sd15File());
        Path other = link(models, "other.safetensors", sd15File());
        ServeCommand serve = new ServeCommand();
        CommandLine cmd = new CommandLine(serve);
        cmd.parseArgs("--model", file.toString(), "--config", Fixtures.dir(Fixtures.SD15).toString(), "--models-dir", models.toString());
        ModelCatalog catalog = new ModelCatalog(models);
        ModelCatalog.Entry first = serve.firstModel(cmd, catalog);
        assertEquals(ModelCatalog.Kind.FILE, first.kind());
        assertEquals(file.toAbsolutePath().toString(), first.filename());
        java.io.StringWriter err = new java.io.StringWriter();
        java.io.PrintWriter pw = new java.io.PrintWriter(err, true);
        ServedModel g = serve.load(cmd, first, first, ComputeSpec.CPU, pw);
        try {
            assertEquals("tiny-sd15", g.model().name());
            assertEquals("3e4a28f774", g.model().modelHash(), "the A1111 hash is computed at load");
            assertEquals(128, g.maxSize(), "twice tiny-sd15's default size of 64");
        } finally {
            g.close();
        }
        assertTrue(java.nio.file.Files.exists(models.resolve("tiny-sd15.safetensors" + ModelHash.CACHE_SUFFIX)));
        assertEquals("tiny-sd15.safetensors [3e4a28f774]", catalog.refresh().get(1).title());
        // another file of the folder is loaded without --config: the error says why and what to do
        ModelLoadException e = assertThrows(ModelLoadException.class,
                () -> serve.load(cmd, ModelCatalog.entryOf(other), first, ComputeSpec.CPU, pw));
        assertTrue(e.getMessage().contains("Pass --config DIR") && e.getMessage().contains("to its --model only"), e.getMessage());
    }

    @Test
    void withoutModelTheFirstRealEntryIsServedElseIdealShapes() throws IOException {
        Path models = tmp.resolve("models");
        Path demo = java.nio.file.Files.createDirectories(models.resolve("a-demo"));
        java.nio.file.Files.writeString(demo.resolve("model_index.json"), "{}");
        java.nio.file.Files.writeString(demo.resolve(DemoModelWriter.MARKER), "random");
        ServeCommand serve = new ServeCommand();
        CommandLine cmd = new CommandLine(serve);
        cmd.parseArgs("--models-dir", models.toString());
        assertEquals(ModelCatalog.ideal(IdealModels.SHAPES), serve.firstModel(cmd, new ModelCatalog(models)), "only the demo");
        link(models, "b.safetensors", sd15File());
        link(models, "c", Fixtures.dir(Fixtures.SD21));
        assertEquals(ModelCatalog.entryOf(models.resolve("b.safetensors")), serve.firstModel(cmd, new ModelCatalog(models)),
                "single files count as models, the demo does not");
    }

    /** QA finding: a file that cannot load (here: shapes that need --config) no longer keeps serve from starting. */
    @Test
    void withoutModelAModelThatFailsIsSkipped() throws IOException {
        Path models = tmp.resolve("models");
        link(models, "a.safetensors", sd15File());
        link(models, "b", Fixtures.dir(Fixtures.SD15));
        ServeCommand serve = new ServeCommand();
        CommandLine cmd = new CommandLine(serve);
        cmd.parseArgs("--models-dir", models.toString());
        java.io.PrintWriter pw = new java.io.PrintWriter(new java.io.StringWriter(), true);
        ServeCommand.Served s = serve.loadFirst(cmd, new ModelCatalog(models), ComputeSpec.CPU, pw);
        try {
            assertEquals(ModelCatalog.entryOf(models.resolve("b")), s.entry());
            assertEquals("b", s.generator().model().name());
        } finally {
            s.generator().close();
        }
        // checkpoint options without --model are refused rather than ignored
        GenerateCommandTest.Run r = GenerateCommandTest.run("serve", "--models-dir", models.toString(), "--config",
                Fixtures.dir(Fixtures.SD15).toString(), "--port", "1");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--config, --vae, --ema and --prediction-type apply to the single file given with --model"),
                r.err());
    }
}
