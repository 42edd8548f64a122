package dev.tenstep.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.testing.Allclose;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fused tiled attention (libtorch's flash kernel through {@link FusedAttention}) against the
 * untiled path (the whole score matrix, softmax, product with v in DJL ops) on SD-sized random
 * inputs, and its memory: the score matrix is never materialised.
 */
class FusedAttentionTest {
    /** Runs {@code body} with attention mode {@code mode} ({@code --attention-slice}), restoring the previous setting. */
    private static NDArray withMode(String mode, Supplier<NDArray> body) {
        try (AttentionSettings.Scope ignored = AttentionSettings.use(AttentionSettings.parse(mode, 0))) {
            return body.get();
        }
    }

    /** [B, L, H*d] random normal projection viewed as [B, H, L, d], as the UNet's attention passes it. */
    private static NDArray heads(NDManager m, long b, long l, long h, long d) {
        return m.randomNormal(new Shape(b, l, h * d)).reshape(b, l, h, d).transpose(0, 2, 1, 3);
    }

    @Test
    void fusedIsTheDefaultAndAvailable() {
        assertEquals(AttentionSettings.DEFAULT, AttentionSettings.current());
        assertEquals("fused", AttentionSettings.current().label());
        assertTrue(FusedAttention.available(), "libtorch's scaled_dot_product_attention loads through TorchScript");
        assertTrue(Ops.fusedAttention());
    }

    /** SD 1.5 self-attention at 512 px: 4096 tokens, 8 heads of 40 (one image); then cross-attention to 77 tokens. */
    @Test
    void tiledMatchesUntiledOnSdSizedInputs() throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            m.getEngine().setRandomSeed(13);
            long tokens = 4096;
            NDArray q = heads(m, 1, tokens, 8, 40);
            NDArray k = heads(m, 1, tokens, 8, 40);
            NDArray v = heads(m, 1, tokens, 8, 40);
            float scale = (float) Math.pow(40, -0.5);

            long rssBefore = resetPeakRss();
            NDArray tiled = withMode("fused", () -> Ops.attentionHeads(q, k, v, scale));
            long peakGrowth = rssBefore < 0 ? -1 : peakRss() - rssBefore;
            // untiled: 8 x 4096 x 4096 fp32 scores = 512 MiB, plus as much again for the softmax
            long rssUntiled = resetPeakRss();
            NDArray untiled = withMode("off", () -> Ops.attentionHeads(q, k, v, scale));
            long untiledGrowth = rssUntiled < 0 ? -1 : peakRss() - rssUntiled;
            assertEquals(new Shape(1, 8, tokens, 40), tiled.getShape());
            double dev = Allclose.assertClose("tiled vs untiled self-attention (4096 tokens, 8 x 40)", untiled, tiled,
                    1e-6, 1e-5);
            double maxAbs = untiled.abs().max().toType(DataType.FLOAT64, false).getDouble();
            System.out.printf("[fused] max|dev| / max|untiled| = %.2e, peak RSS growth %.1f MiB (untiled %.1f MiB)%n",
                    dev / maxAbs, peakGrowth / 1048576.0, untiledGrowth / 1048576.0);
            assertTrue(dev <= 3e-6 * maxAbs, "relative deviation " + dev / maxAbs);
            if (peakGrowth >= 0) {
                // output 5 MiB + the kernel's per-thread tiles; the untiled scores alone are 512 MiB
                assertTrue(peakGrowth < 128L << 20, "tiled: peak RSS grew by " + (peakGrowth >> 20) + " MiB");
                assertTrue(untiledGrowth > 384L << 20, "the measurement sees the untiled score matrix: "
                        + (untiledGrowth >> 20) + " MiB");
            }

            NDArray kc = heads(m, 1, 77, 8, 40);
            NDArray vc = heads(m, 1, 77, 8, 40);
            NDArray tiledCross = withMode("fused", () -> Ops.attentionHeads(q, kc, vc, scale));
            NDArray untiledCross = withMode("off", () -> Ops.attentionHeads(q, kc, vc, scale));
            Allclose.assertClose("tiled vs untiled cross-attention (4096 x 77 tokens)", untiledCross, tiledCross,
                    1e-6, 1e-5);
        }
    }

    /** The VAE's single-head attention over 32 x 32 latent pixels of 512 channels ([B, L, C] path of {@link Ops#attention}). */
    @Test
    void tiledMatchesUntiledSingleHeadWideChannels() {
        try (NDManager m = NDManager.newBaseManager()) {
            m.getEngine().setRandomSeed(14);
            NDArray q = m.randomNormal(new Shape(1, 1024, 512));
            NDArray k = m.randomNormal(new Shape(1, 1024, 512));
            NDArray v = m.randomNormal(new Shape(1, 1024, 512));
            float scale = (float) Math.pow(512, -0.5);
            NDArray tiled = withMode("fused", () -> Ops.attention(q, k, v, scale, null));
            NDArray untiled = withMode("off", () -> Ops.attention(q, k, v, scale, null));
            Allclose.assertClose("tiled vs untiled VAE attention (1024 tokens, 1 x 512)", untiled, tiled, 1e-6, 1e-5);
        }
    }

    /**
     * Resets the kernel's peak-RSS mark ({@code VmHWM}) to the current RSS ({@code 5 > /proc/self/clear_refs},
     * Linux >= 4.0) and returns the current RSS, bytes; -1 where that is not possible (then the
     * memory check is skipped and only the values are compared).
     */
    private static long resetPeakRss() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return status("VmRSS:");
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    private static long peakRss() throws IOException {
        return status("VmHWM:");
    }

    private static long status(String key) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(key)) {
                return Long.parseLong(line.substring(key.length()).trim().split("\\s+")[0]) * 1024;
            }
        }
        throw new IOException(key + " not in /proc/self/status");
    }
}
