package dev.tenstep.batch;

import dev.tenstep.cli.Main;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
                "--output", tmp.resolve("o").toString(), "--compare", "ddim:ddim,euler");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--compare") && r.err().contains("unknown sampler 'euler'"), r.err());
        Run missing = run("batch", "--prompts", tmp.resolve("nope.txt").toString(), "--output", tmp.toString());
        assertEquals(2, missing.exit());
        assertTrue(missing.err().contains("no such file"), missing.err());
    }
}
