package dev.tenstep.cli;

import dev.tenstep.testing.Fixtures;
import io.javalin.Javalin;
import org.junit.jupiter.api.Test;
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
}
