package dev.tenstep.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AtomicFilesTest {
    @TempDir
    Path dir;

    @Test
    void legalLongNamesAreWritten() throws IOException {
        // issue 10 failure 6: a 240-character -o name failed with "File name too long" (the temporary was longer)
        for (String name : new String[] {"a".repeat(236) + ".png", "b".repeat(251) + ".png", "東".repeat(80) + ".png"}) {
            Path f = dir.resolve(name);
            AtomicFiles.write(f, new byte[] {1, 2, 3});
            assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(f));
        }
        try (var s = Files.list(dir)) {
            assertEquals(3, s.count(), "no temporary file left behind");
        }
    }

    @Test
    void temporaryNameIsNeverLongerThanTheFinalName() throws IOException {
        for (String name : new String[] {"x", "ab", "a.png", "东京.png", "z".repeat(255)}) {
            Path t = AtomicFiles.createTemp(dir, name);
            int tmpBytes = t.getFileName().toString().getBytes(StandardCharsets.UTF_8).length;
            assertTrue(tmpBytes <= name.getBytes(StandardCharsets.UTF_8).length, name + " -> " + t.getFileName());
            assertTrue(tmpBytes <= AtomicFiles.MAX_TEMP_NAME);
            Files.delete(t);
        }
        AtomicFiles.write(dir.resolve("x"), new byte[] {7});
        assertArrayEquals(new byte[] {7}, Files.readAllBytes(dir.resolve("x")));
        // every one-letter name, several times: a temporary drawn equal to the final name (1 in 36) once
        // deleted the file it had just written
        for (int round = 0; round < 20; round++) {
            Path sub = Files.createDirectory(dir.resolve("round" + round));
            for (char c : "abcdefghijklmnopqrstuvwxyz0123456789".toCharArray()) {
                Path f = sub.resolve(String.valueOf(c));
                AtomicFiles.write(f, new byte[] {(byte) c});
                assertArrayEquals(new byte[] {(byte) c}, Files.readAllBytes(f), f.toString());
                Files.delete(f);
            }
        }
    }
}
