package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.sampling.RngKind;
import dev.tenstep.testing.Allclose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Pins one picture of the bundled demo pipeline end to end: the final latents (float32
 * [1, 4, 16, 16]) and the decoded 64 x 64 RGB pixels of a fixed generation (demo weights of
 * {@link DemoModelWriter#DEFAULT_SEED}, prompt "a lighthouse at dusk", seed 1234, 4 steps, the default
 * sampler GE with its default log-linear schedule and gamma 2, CFG 7.5, the tenstep RNG), against
 * {@code src/test/resources/pinned/demo-lighthouse.safetensors}.
 *
 * <p>Why: refactors of the request, preset, pipeline, sampler, schedule or model code must not change
 * pictures unnoticed. The fixture tests check each stage against diffusers; this test checks the
 * whole chain (seeded weights, tokenizer, text encoder, starting noise, schedule, sampler, CFG, UNet,
 * VAE, 8-bit conversion) through public calls only. It compares within the fixtures' tolerance for a
 * whole pipeline run ({@code pipeline_ddim.final_latents} of tiny-sd15: atol 3.3e-3, rtol 1e-4) and
 * one 8-bit level per pixel, not bit for bit: fp32 libtorch output differs in its last bits between
 * CPUs (AVX2 / AVX-512 kernels), libtorch builds and thread counts (on a Sapphire Rapids CPU final
 * latent [0] was 2.6134288 where this machine gives 2.6134279). A refactor that changes the picture
 * moves the latents by far more than that. The reference was written by this test's generation on
 * commit 7423f4c (AMD EPYC, 2 threads, DJL 0.36.0, libtorch 2.7.1): its pixels equal the earlier
 * bit-exact pin (SHA-256 6141403d...), its latents differ from it by about 1e-5 (final latent [0]
 * 2.6134353 against 2.6134279), which is why the pin is now a tolerance.
 */
class DemoImagePinnedTest {
    static final Path REFERENCE = Path.of("src/test/resources/pinned/demo-lighthouse.safetensors");
    static final double LATENT_ATOL = 3.3e-3;
    static final double LATENT_RTOL = 1e-4;

    @TempDir
    Path tmp;

    @Test
    void demoGenerationMatchesItsPinnedPicture() throws Exception {
        Path dir = DemoModelWriter.create(tmp.resolve("demo"), DemoModelWriter.DEFAULT_SEED);
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(dir);
             NDManager m = NDManager.newBaseManager()) {
            // the pin predates the philox default (issue 10): it fixes the tenstep RNG the values were computed with
            GenerationResult r = p.generate(GenerationRequest.of("a lighthouse at dusk")
                    .withSeed(1234).withSteps(4).withSize(64, 64)
                    .withText(null, null, RngKind.TENSTEP));
            assertArrayEquals(new long[] {1, 4, 16, 16}, r.latentShape());
            assertTrue(Files.isRegularFile(REFERENCE), "pinned reference missing: " + REFERENCE);
            Map<String, NDArray> ref = SafeTensors.read(REFERENCE, m);
            Allclose.assertClose("final latents", ref.get("final_latents"),
                    m.create(r.finalLatents(), new Shape(r.latentShape())), LATENT_ATOL, LATENT_RTOL);
            float[] expected = ref.get("pixels").toFloatArray(); // RGB 0..255, [64, 64, 3]
            int[] actual = rgb(r.image());
            assertEquals(expected.length, actual.length, "pixel count");
            int worst = 0;
            for (int i = 0; i < expected.length; i++) {
                worst = Math.max(worst, Math.abs(Math.round(expected[i]) - actual[i]));
            }
            assertTrue(worst <= 1, "RGB pixels differ from the pinned picture by up to " + worst + " levels (allowed 1)");
        }
    }

    /** Row-major R, G, B values (0..255) of every pixel of a 64 x 64 picture. */
    static int[] rgb(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        assertEquals(64, w);
        assertEquals(64, h);
        int[] argb = image.getRGB(0, 0, w, h, null, 0, w);
        int[] out = new int[argb.length * 3];
        for (int i = 0; i < argb.length; i++) {
            out[3 * i] = (argb[i] >> 16) & 0xff;
            out[3 * i + 1] = (argb[i] >> 8) & 0xff;
            out[3 * i + 2] = argb[i] & 0xff;
        }
        return out;
    }
}
