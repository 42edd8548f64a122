package dev.tenstep.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * The golden fixtures in {@code ../shared/fixtures} (system property {@code fixtures.dir}).
 * A missing folder fails the test: the fixtures are the proof of correctness and must never be skipped.
 */
public final class Fixtures {
    public static final String SD15 = "tiny-sd15";
    public static final String SD21 = "tiny-sd21";

    private Fixtures() {
    }

    public static Path root() {
        Path p = Path.of(System.getProperty("fixtures.dir", "../shared/fixtures")).toAbsolutePath().normalize();
        if (!Files.isDirectory(p.resolve(SD15)) || !Files.isDirectory(p.resolve(SD21))) {
            fail("golden fixtures not found at " + p + " (expected ../shared/fixtures beside the project root)");
        }
        return p;
    }

    /** A fixture pipeline folder, e.g. {@code dir(SD15)}. */
    public static Path dir(String name) {
        return root().resolve(name);
    }

    public static Path reference(String name, String file) {
        return dir(name).resolve("reference").resolve(file);
    }

    /** The real release configs in {@code ../shared/configs}. */
    public static Path configs() {
        Path p = Path.of(System.getProperty("configs.dir", "../shared/configs")).toAbsolutePath().normalize();
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
