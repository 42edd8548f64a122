package dev.tenstep.pipeline;

import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LoraCatalogTest {

    @Test
    void listsSafetensorsFilesByNameWithTheirAliasAndRescans(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("Lora");
        Files.createDirectories(dir.resolve("styles"));
        Files.createSymbolicLink(dir.resolve("tiny-sd15-kohya.safetensors"), Fixtures.root().resolve("lora/tiny-sd15-kohya.safetensors"));
        Files.createSymbolicLink(dir.resolve("styles/my-peft.safetensors"), Fixtures.root().resolve("lora/tiny-sd15-peft.safetensors"));
        Files.writeString(dir.resolve("notes.txt"), "not a lora");
        LoraCatalog c = new LoraCatalog(dir);
        assertEquals(List.of("my-peft", "tiny-sd15-kohya"), c.entries().stream().map(LoraCatalog.Entry::name).toList());
        LoraCatalog.Entry kohya = c.find("tiny-sd15-kohya").orElseThrow();
        assertEquals("tiny-sd15-kohya", kohya.alias(), "ss_output_name");
        assertEquals("sd_v1", kohya.metadata().get("ss_base_model_version"));
        assertEquals("my-peft", c.find("MY-PEFT").orElseThrow().name(), "case-insensitive fallback");
        assertTrue(c.find("absent").isEmpty());

        Files.createSymbolicLink(dir.resolve("sd21.safetensors"), Fixtures.root().resolve("lora/tiny-sd21-kohya.safetensors"));
        assertTrue(c.find("sd21").isEmpty(), "no rescan before refresh");
        c.refresh();
        assertEquals("sd21", c.find("tiny-sd21-kohya").orElseThrow().name(), "found by its alias");
        assertTrue(new LoraCatalog(tmp.resolve("absent")).entries().isEmpty());
    }
}
