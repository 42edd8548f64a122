package dev.tenstep.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * The golden fixtures in {@code src/test/shared/fixtures}, the repository's copy (system property
 * {@code fixtures.dir} points elsewhere). A missing folder fails the test: the fixtures are the proof of
 * correctness and must never be skipped. The copy is read-only for the tests: {@link #root()} fails when
 * it finds a file that {@code src/test/shared/fixtures.sha256} does not list (a hash cache or an output
 * written there by an earlier test).
 */
public final class Fixtures {
    public static final String SD15 = "tiny-sd15";
    public static final String SD21 = "tiny-sd21";
    public static final String SDXL = "tiny-sdxl";

    private Fixtures() {
    }

    public static Path root() {
        Path p = Path.of(System.getProperty("fixtures.dir", "src/test/shared/fixtures")).toAbsolutePath().normalize();
        if (!Files.isDirectory(p.resolve(SD15)) || !Files.isDirectory(p.resolve(SD21))) {
            fail("golden fixtures not found at " + p + " (expected src/test/shared/fixtures in the repository)");
        }
        checkUntouched(p);
        return p;
    }

    /** The files that {@code fixtures.sha256} beside the fixture folder lists, read once. */
    private static volatile Set<String> listed;

    /**
     * Fails when the fixture folder holds a file its manifest does not list: tests must write hash
     * caches, outputs and temporary files elsewhere ({@code @TempDir}, {@link #copyOf}).
     */
    private static void checkUntouched(Path root) {
        Path manifest = root.resolveSibling("fixtures.sha256");
        if (!Files.isRegularFile(manifest)) {
            return; // a fixtures.dir outside the repository (../shared) has no manifest: nothing to compare
        }
        try {
            if (listed == null) {
                Set<String> s = new HashSet<>();
                for (String line : Files.readAllLines(manifest)) {
                    if (!line.isBlank()) {
                        s.add(line.substring(line.indexOf("./") + 2));
                    }
                }
                listed = s;
            }
            try (Stream<Path> files = Files.walk(root)) {
                List<String> extra = files.filter(Files::isRegularFile)
                        .map(f -> root.relativize(f).toString().replace('\\', '/'))
                        .filter(f -> !listed.contains(f)).sorted().toList();
                if (!extra.isEmpty()) {
                    fail("a test wrote into the fixture copy " + root + ": " + extra
                            + " (write to a @TempDir or Fixtures.copyOf instead)");
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A copy of a fixture file in {@code dir} (for tests that load single files, whose load writes
     * the {@code .sha256} hash cache beside the file).
     *
     * @param relative a path under the fixture root, e.g. {@code single-file/tiny-sd15.safetensors}
     * @return the copy, {@code dir/<file name>}
     */
    public static Path copyOf(String relative, Path dir) {
        Path src = root().resolve(relative);
        try {
            Files.createDirectories(dir);
            return Files.copy(src, dir.resolve(src.getFileName().toString()), StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A fixture pipeline folder, e.g. {@code dir(SD15)}. */
    public static Path dir(String name) {
        return root().resolve(name);
    }

    public static Path reference(String name, String file) {
        return dir(name).resolve("reference").resolve(file);
    }

    private static Path scratch;

    /**
     * A copy of a fixture file in a folder of its own under the system's temporary directory, made
     * once per test JVM and removed at its exit: for tests that hand a single-file checkpoint to the
     * product, whose load writes the {@code .sha256} hash cache beside the file.
     *
     * @param relative a path under the fixture root, e.g. {@code single-file/tiny-sd15.safetensors}
     */
    public static synchronized Path writableCopy(String relative) {
        try {
            if (scratch == null) {
                scratch = Files.createTempDirectory("tenstep-fixtures");
                Path dir = scratch;
                Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(dir)));
            }
            Path copy = scratch.resolve(relative);
            if (!Files.exists(copy)) {
                copyOf(relative, copy.getParent());
            }
            return copy;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException e) {
            // best effort at JVM exit
        }
    }

    /** The real release configs in {@code src/test/shared/configs} (system property {@code configs.dir}). */
    public static Path configs() {
        Path p = Path.of(System.getProperty("configs.dir", "src/test/shared/configs")).toAbsolutePath().normalize();
        if (!Files.isDirectory(p)) {
            fail("release configs not found at " + p);
        }
        return p;
    }

    public static JsonNode cases(String name) {
        try {
            return new ObjectMapper().readTree(reference(name, "cases.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The case object with the given id (tokenizer, text_encoder, unet, vae, schedule, pipeline_ddim, sigma_sampler, debug_intermediates). */
    public static JsonNode caseById(String name, String id) {
        for (JsonNode c : cases(name).get("cases")) {
            if (c.get("id").asText().equals(id)) {
                return c;
            }
        }
        throw new IllegalArgumentException("no case " + id + " in " + name);
    }

    /** Tolerance of one output tensor of a case, from cases.json. */
    public static Tolerance tolerance(String name, String caseId, String tensor) {
        JsonNode t = caseById(name, caseId).get("tolerance").get(tensor);
        if (t == null) {
            throw new IllegalArgumentException("no tolerance for " + tensor + " in case " + caseId);
        }
        if (t.has("exact")) {
            return new Tolerance(0, 0);
        }
        return new Tolerance(t.get("atol").asDouble(), t.get("rtol").asDouble());
    }

    public record Tolerance(double atol, double rtol) {
    }

    static Iterator<Map.Entry<String, JsonNode>> fields(JsonNode n) {
        return n.fields();
    }
}
