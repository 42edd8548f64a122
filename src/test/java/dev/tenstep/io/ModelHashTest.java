package dev.tenstep.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

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
    void aReadOnlyFolderStillGivesTheHash(@TempDir Path tmp) throws Exception {
        // a folder without the owner's write bit is left untouched, even for root (whom access(2) lets write)
        Path dir = tmp.resolve("read-only");
        Path file = dev.tenstep.testing.Fixtures.copyOf("single-file/tiny-sd15-fp16.safetensors", dir);
        Set<PosixFilePermission> before = Files.getPosixFilePermissions(dir);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("r-xr-xr-x"));
        try {
            // sha256sum of the fixture file
            assertEquals("1dc6193b6432f73f9e75ac3fbc8e4d62e9533eeb5027cf0c9e31f26137f29710", ModelHash.sha256(file, null));
            assertTrue(!Files.exists(file.resolveSibling(file.getFileName() + ModelHash.CACHE_SUFFIX)));
        } finally {
            Files.setPosixFilePermissions(dir, before);
        }
    }
}
