package dev.tenstep.batch;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Issue 10 failure 6, batch side: image names from long prompt-file stems stay within file-system limits. */
class BatchStemTest {
    @Test
    void longStemsAreShortenedAndStayDistinct() {
        assertEquals("my_prompts", BatchRunner.stem(Path.of("my prompts.txt")));
        String a = BatchRunner.stem(Path.of("p".repeat(240) + "a.txt"));
        String b = BatchRunner.stem(Path.of("p".repeat(240) + "b.txt"));
        assertEquals(BatchRunner.MAX_STEM, a.length());
        assertTrue(a.matches("p{91}~[0-9a-f]{8}"), a);
        assertNotEquals(a, b);
        // the longest image name: stem + "-" + line + "-" + variant slug + ".png" fits in 255 bytes
        String name = a + "-" + String.format("%04d", 123456) + "-" + "ddim-log-linear-continuous-g10.5" + ".png";
        assertTrue(name.length() < 255, name.length() + "");
    }
}
