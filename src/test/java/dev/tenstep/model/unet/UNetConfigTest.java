package dev.tenstep.model.unet;

import dev.tenstep.model.config.Configs;
import dev.tenstep.model.config.UNetConfig;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** UNetConfig reads the real release configs and the fixtures with the right heads per block. */
class UNetConfigTest {
    private static UNetConfig read(java.nio.file.Path dir) {
        return Configs.read(dir.resolve("unet").resolve("config.json"), UNetConfig.class);
    }

    @Test
    void sd15() {
        UNetConfig c = read(Fixtures.configs().resolve("stable-diffusion-v1-5"));
        assertArrayEquals(new int[] {8, 8, 8, 8}, c.headsPerBlock());
        assertArrayEquals(new int[] {320, 640, 1280, 1280}, c.blockOutChannels());
        assertFalse(c.useLinearProjection());
        assertEquals(768, c.crossAttentionDim());
        assertEquals(32, c.normNumGroups());
        assertEquals(1280, c.timeEmbeddingDim());
        assertEquals(4, c.levels());
        assertEquals(List.of("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"), c.downBlockTypes());
        assertEquals(List.of("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), c.upBlockTypes());
    }

    @Test
    void sd21() {
        for (String name : List.of("stable-diffusion-2-1", "stable-diffusion-2-1-base")) {
            UNetConfig c = read(Fixtures.configs().resolve(name));
            assertArrayEquals(new int[] {5, 10, 20, 20}, c.headsPerBlock(), name);
            assertTrue(c.useLinearProjection(), name);
            assertEquals(1024, c.crossAttentionDim(), name);
            assertEquals(2, c.layersPerBlock(), name);
            // head size 64 everywhere: 320/5, 640/10, 1280/20
            for (int i = 0; i < c.levels(); i++) {
                assertEquals(64, c.blockOutChannels()[i] / c.headsPerBlock()[i], name);
            }
        }
        assertEquals(96, read(Fixtures.configs().resolve("stable-diffusion-2-1")).sampleSize());
        assertTrue(read(Fixtures.configs().resolve("stable-diffusion-2-1")).upcastAttention());
    }

    @Test
    void fixtures() {
        UNetConfig a = read(Fixtures.dir(Fixtures.SD15));
        assertArrayEquals(new int[] {2, 2, 2}, a.headsPerBlock());
        assertEquals(8, a.normNumGroups());
        UNetConfig b = read(Fixtures.dir(Fixtures.SD21));
        assertArrayEquals(new int[] {2, 4, 4}, b.headsPerBlock());
        assertTrue(b.useLinearProjection());
        assertEquals(64, b.timeEmbeddingDim());
    }

    /** {@code upcast_attention} is a model setting: the config hands it to every attention module, whatever the weights. */
    @Test
    void upcastAttentionComesFromTheConfig() {
        for (String fixture : List.of(Fixtures.SD15, Fixtures.SD21)) {
            UNetConfig c = read(Fixtures.dir(fixture));
            try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager();
                 UNet2DConditionModel unet = new UNet2DConditionModel(c, dev.tenstep.model.Weights.shapesOnly(m))) {
                List<Attention> all = new java.util.ArrayList<>();
                for (DownBlock d : unet.downBlocks) {
                    for (Transformer2DModel t : d.attentions) {
                        all.add(t.transformerBlocks.get(0).attn1);
                        all.add(t.transformerBlocks.get(0).attn2);
                    }
                }
                assertFalse(all.isEmpty());
                for (Attention a : all) {
                    assertEquals(c.upcastAttention(), a.upcastAttention(), fixture);
                }
            }
        }
        assertTrue(read(Fixtures.dir(Fixtures.SD21)).upcastAttention());
        assertFalse(read(Fixtures.dir(Fixtures.SD15)).upcastAttention());
    }
}
