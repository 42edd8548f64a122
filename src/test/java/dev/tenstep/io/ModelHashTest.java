package dev.tenstep.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelHashTest {
    @Test
    void sha256IsCachedBesideTheFileAndRecomputedWhenTheFileChanges(@TempDir Path tmp) throws Exception {
        Path f = tmp.resolve("model.safetensors");
        Files.writeString(f, "abc", StandardCharsets.UTF_8);
        // SHA-256("abc"), FIPS 180-2 appendix B.1
        String abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        List<String> progress = new ArrayList<>();
        assertEquals(abc, ModelHash.sha256(f, progress::add));
        assertEquals("ba7816bf8f", ModelHash.shortHash(abc));
        Path cache = tmp.resolve("model.safetensors" + ModelHash.CACHE_SUFFIX);
        assertTrue(Files.readString(cache).startsWith(abc + " 3 "), Files.readString(cache));

        // a cache entry for the same size and time is trusted (this is what saves re-hashing 4 GB)
        String fake = "0".repeat(64);
        Files.writeString(cache, fake + " 3 " + Files.getLastModifiedTime(f).toMillis() + "\n");
        assertEquals(fake, ModelHash.sha256(f, null));

        // a changed file (other size or time) is hashed again
        Files.writeString(f, "abcd", StandardCharsets.UTF_8);
        Files.setLastModifiedTime(f, FileTime.fromMillis(1_000_000));
        assertEquals("88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589", ModelHash.sha256(f, null));
    }

    @Test
    void aReadOnlyFolderStillGivesTheHash() throws Exception {
        // ../shared/fixtures is read-only: no cache can be written there
        Path fixture = dev.tenstep.testing.Fixtures.root().resolve("single-file/tiny-sd15-fp16.safetensors");
        assertEquals("efb695d826b391c30631eb4d20ed005c4f917e56b550e33c3f17bf24879b9b0e", ModelHash.sha256(fixture, null));
        assertTrue(!Files.exists(fixture.resolveSibling(fixture.getFileName() + ModelHash.CACHE_SUFFIX)));
    }
}
