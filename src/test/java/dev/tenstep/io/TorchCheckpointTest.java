package dev.tenstep.io;

import ai.djl.ndarray.NDManager;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The .ckpt reader on checkpoints written by torch.save (src/test/resources/ckpt/make_ckpt.py). */
class TorchCheckpointTest {
    static Path resource(String name) {
        return Path.of("src/test/resources/ckpt").resolve(name);
    }

    @Test
    void readsEveryDtypeViewAndParameterExactly() throws Exception {
        for (String f : new String[] {"small.ckpt", "bare.ckpt"}) {
            try (TorchCheckpoint c = TorchCheckpoint.open(resource(f)); NDManager m = NDManager.newBaseManager()) {
                assertEquals(java.util.Set.of("f32", "f16", "i64", "view_a", "view_b", "param", "scalar"), c.tensors().keySet(), f);
                assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, c.load(m, c.tensors().get("f32")).toFloatArray());
                assertArrayEquals(new long[] {3, 4}, c.tensors().get("f32").shape());
                assertEquals(DType.F16, c.tensors().get("f16").dtype());
                assertArrayEquals(new float[] {0, 0.25f, 0.5f, 0.75f, 1, 1.25f}, c.load(m, c.tensors().get("f16")).toFloatArray());
                assertArrayEquals(new long[] {0, 1, 2, 3, 4}, c.load(m, c.tensors().get("i64")).toLongArray());
                assertArrayEquals(new float[] {20, 30, 40, 50}, c.load(m, c.tensors().get("view_a")).toFloatArray());
                assertArrayEquals(new float[] {60, 70, 80, 90}, c.load(m, c.tensors().get("view_b")).toFloatArray());
                assertArrayEquals(new float[] {7, 7, 7, 7}, c.load(m, c.tensors().get("param")).toFloatArray());
                assertArrayEquals(new long[] {}, c.tensors().get("scalar").shape());
                assertArrayEquals(new float[] {3.5f}, c.load(m, c.tensors().get("scalar")).toFloatArray());
                assertEquals(f.equals("small.ckpt") ? 110000L : -1L, c.globalStep().orElse(-1));
            }
        }
    }

    @Test
    void maliciousPicklesAreRefusedByNameAndNothingRuns() {
        Path marker = Path.of("/tmp/tenstep-ckpt-pwned");
        for (String f : new String[] {"malicious.ckpt", "malicious-p4.ckpt"}) {
            SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> TorchCheckpoint.open(resource(f)));
            assertTrue(e.getMessage().contains("refused: the pickle names the global 'posix.system'"), e.getMessage());
            assertTrue(e.getMessage().contains(f), e.getMessage());
        }
        assertFalse(Files.exists(marker), "pickled code must never run");
    }

    @Test
    void unsupportedLayoutsAreNamed() {
        SafeTensorsException nc = assertThrows(SafeTensorsException.class, () -> TorchCheckpoint.open(resource("noncontiguous.ckpt")));
        assertTrue(nc.getMessage().contains("tensor 't': non-contiguous tensor (stride [1, 3] for shape [3, 2])"), nc.getMessage());
        SafeTensorsException u8 = assertThrows(SafeTensorsException.class, () -> TorchCheckpoint.open(resource("uint8.ckpt")));
        assertTrue(u8.getMessage().contains("tensor 'u8': unsupported storage type torch.ByteStorage"), u8.getMessage());
    }

    @Test
    void truncatedAndCorruptedFilesAreNamedErrors(@TempDir Path tmp) throws Exception {
        byte[] good = Files.readAllBytes(resource("small.ckpt"));
        Path truncated = tmp.resolve("truncated.ckpt");
        Files.write(truncated, Arrays.copyOf(good, good.length - 300));
        SafeTensorsException t = assertThrows(SafeTensorsException.class, () -> TorchCheckpoint.open(truncated));
        assertTrue(t.getMessage().startsWith(truncated + ": cannot read the zip archive (truncated or corrupted?)"), t.getMessage());

        Path half = tmp.resolve("half.ckpt");
        Files.write(half, Arrays.copyOf(good, 900));
        assertThrows(SafeTensorsException.class, () -> TorchCheckpoint.open(half));

        Path legacy = tmp.resolve("legacy.ckpt");
        Files.write(legacy, new byte[] {(byte) 0x80, 2, (byte) 0x8a, 10});
        SafeTensorsException l = assertThrows(SafeTensorsException.class, () -> TorchCheckpoint.open(legacy));
        assertTrue(l.getMessage().contains("legacy PyTorch checkpoint"), l.getMessage());

        Path text = tmp.resolve("notes.ckpt");
        Files.writeString(text, "hello");
        SafeTensorsException n = assertThrows(SafeTensorsException.class, () -> TorchCheckpoint.open(text));
        assertTrue(n.getMessage().contains("not a PyTorch checkpoint"), n.getMessage());

        // a flipped byte inside the compressed-free pickle: the reader fails with a named error, not a crash
        byte[] bad = good.clone();
        int pkl = indexOf(bad, "small/data.pkl".getBytes()) + 14 + 30;
        bad[pkl] = (byte) 0xff;
        Path corrupt = tmp.resolve("corrupt.ckpt");
        Files.write(corrupt, bad);
        SafeTensorsException c = assertThrows(SafeTensorsException.class, () -> TorchCheckpoint.open(corrupt));
        assertTrue(c.getMessage().startsWith(corrupt.toString()), c.getMessage());
    }

    private static int indexOf(byte[] a, byte[] b) {
        outer:
        for (int i = 0; i + b.length <= a.length; i++) {
            for (int j = 0; j < b.length; j++) {
                if (a[i + j] != b[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new AssertionError("not found");
    }
}
