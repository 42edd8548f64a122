package dev.tenstep.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * The LoRA fixture set ({@code fixtures/lora}: LoRA files for tiny-sd15 / tiny-sd21 and their references): its
 * files, its {@code cases.json} manifest and the tolerance of each tensor. A missing file fails the test.
 */
public final class LoraFixtures {
    private LoraFixtures() {
    }

    /** A file of the set, e.g. {@code tiny-sd15-kohya.safetensors} or {@code reference/…}. */
    public static Path file(String name) {
        Path p = Fixtures.root().resolve("lora").resolve(name);
        if (!Files.isRegularFile(p)) {
            fail("LoRA fixture file missing: " + p);
        }
        return p;
    }

    /** {@code cases.json}. */
    public static JsonNode cases() {
        try {
            return new ObjectMapper().readTree(file("cases.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The case with this id, e.g. {@code tiny-sd15-kohya.pipeline}. */
    public static JsonNode caseById(String id) {
        for (JsonNode c : cases().get("cases")) {
            if (c.get("id").asText().equals(id)) {
                return c;
            }
        }
        throw new IllegalArgumentException("no case " + id + " in fixtures/lora/cases.json");
    }

    /** The reference file of a case ({@code reference/<id>.safetensors}). */
    public static Path reference(String caseId) {
        return file(caseById(caseId).get("file").asText());
    }

    /** The LoRA files a case's references apply to ({@code lora_files_giving_the_same_result}). */
    public static List<String> filesGivingTheSameResult(String caseId) {
        List<String> out = new ArrayList<>();
        caseById(caseId).get("lora_files_giving_the_same_result").forEach(n -> out.add(n.asText()));
        return out;
    }

    /** The tolerance of one tensor of a case ({@code exact} = 0, 0). */
    public static Fixtures.Tolerance tolerance(String caseId, String tensor) {
        JsonNode t = caseById(caseId).get("tolerance").get(tensor);
        if (t == null) {
            throw new IllegalArgumentException("no tolerance for " + tensor + " in case " + caseId);
        }
        if (t.has("exact")) {
            return new Fixtures.Tolerance(0, 0);
        }
        return new Fixtures.Tolerance(t.get("atol").asDouble(), t.get("rtol").asDouble());
    }
}
