package dev.tenstep.model.singlefile;

import dev.tenstep.model.ModelLoadException;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The SGM / LDM UNet index arithmetic ({@link CheckpointKeys#unet}) follows the UNet config: with
 * L = layers_per_block, down level i layer j is {@code input_blocks.(1 + (L+1) i + j)}, its
 * downsampler {@code input_blocks.((L+1)(i+1)).0.op}, up level i layer j
 * {@code output_blocks.((L+1) i + j)}, its upsampler sub-module 2 after an attention and 1 without;
 * levels without attention and transformer blocks beyond a level's depth have no counterpart.
 */
class UNetLayoutTest {
    private static UNetLayout release(String name) {
        return UNetLayout.read(Fixtures.configs().resolve(name).resolve("unet/config.json"));
    }

    @Test
    void sdxlBaseConfigIsReadAsDiffusersDoes() {
        UNetLayout l = release("stable-diffusion-xl-base-1.0");
        assertEquals(2, l.layersPerBlock());
        assertEquals(List.of(false, true, true), l.downAttention());
        assertEquals(List.of(true, true, false), l.upAttention());
        assertArrayEquals(new int[] {1, 2, 10}, l.depth());
        assertEquals(10, l.upDepth(0));
        assertEquals(2, l.upDepth(1));
        assertEquals(10, l.midDepth());
        assertArrayEquals(new int[] {320, 640, 1280}, l.blockOutChannels());
        assertEquals(2048, l.crossAttentionDim());
        assertEquals(1280, l.timeEmbedDim());
        assertEquals(2816, l.addEmbedInputDim());
    }

    @Test
    void sdxlBaseNamesFollowItsConfig() {
        UNetLayout l = release("stable-diffusion-xl-base-1.0");
        String[][] pairs = {
                {"label_emb.0.0.weight", "add_embedding.linear_1.weight"},
                {"label_emb.0.2.bias", "add_embedding.linear_2.bias"},
                {"time_embed.0.weight", "time_embedding.linear_1.weight"},
                {"input_blocks.0.0.weight", "conv_in.weight"},
                // level 0 (320, DownBlock2D): resnets only, then the downsampler
                {"input_blocks.2.0.in_layers.2.weight", "down_blocks.0.resnets.1.conv1.weight"},
                {"input_blocks.3.0.op.weight", "down_blocks.0.downsamplers.0.conv.weight"},
                // level 1 (640, depth 2)
                {"input_blocks.4.0.skip_connection.weight", "down_blocks.1.resnets.0.conv_shortcut.weight"},
                {"input_blocks.4.1.transformer_blocks.1.attn1.to_q.weight", "down_blocks.1.attentions.0.transformer_blocks.1.attn1.to_q.weight"},
                {"input_blocks.5.1.proj_in.weight", "down_blocks.1.attentions.1.proj_in.weight"},
                {"input_blocks.6.0.op.bias", "down_blocks.1.downsamplers.0.conv.bias"},
                // level 2 (1280, depth 10), the last: no downsampler
                {"input_blocks.8.1.transformer_blocks.9.ff.net.2.weight", "down_blocks.2.attentions.1.transformer_blocks.9.ff.net.2.weight"},
                {"middle_block.1.transformer_blocks.9.attn2.to_k.weight", "mid_block.attentions.0.transformer_blocks.9.attn2.to_k.weight"},
                {"middle_block.2.emb_layers.1.weight", "mid_block.resnets.1.time_emb_proj.weight"},
                // up level 0 (1280, CrossAttnUpBlock2D, depth 10): upsampler after the attention
                {"output_blocks.0.1.transformer_blocks.9.norm3.weight", "up_blocks.0.attentions.0.transformer_blocks.9.norm3.weight"},
                {"output_blocks.2.1.proj_out.weight", "up_blocks.0.attentions.2.proj_out.weight"},
                {"output_blocks.2.2.conv.weight", "up_blocks.0.upsamplers.0.conv.weight"},
                // up level 1 (640, depth 2)
                {"output_blocks.3.1.transformer_blocks.1.attn2.to_v.weight", "up_blocks.1.attentions.0.transformer_blocks.1.attn2.to_v.weight"},
                {"output_blocks.5.2.conv.bias", "up_blocks.1.upsamplers.0.conv.bias"},
                // up level 2 (320, UpBlock2D), the last: resnets only
                {"output_blocks.8.0.skip_connection.weight", "up_blocks.2.resnets.2.conv_shortcut.weight"},
                {"out.2.weight", "conv_out.weight"},
        };
        for (String[] p : pairs) {
            assertEquals(p[1], CheckpointKeys.unet(p[0], l), p[0]);
        }
        String[] none = {
                "input_blocks.1.1.norm.weight",                               // level 0 has no attention
                "input_blocks.4.1.transformer_blocks.2.attn1.to_q.weight",    // level 1 has depth 2
                "middle_block.1.transformer_blocks.10.attn1.to_q.weight",     // the mid block has depth 10
                "input_blocks.9.0.op.weight",                                  // the last level has no downsampler
                "input_blocks.10.0.in_layers.0.weight",                        // no fourth level
                "output_blocks.6.1.norm.weight",                               // up level 2 has no attention
                "output_blocks.8.1.conv.weight",                               // ... and, the last, no upsampler
                "output_blocks.2.1.conv.weight",                               // up level 0's upsampler is sub-module 2
                "output_blocks.3.1.transformer_blocks.2.attn1.to_q.weight",   // up level 1 has depth 2
                "output_blocks.9.0.in_layers.0.weight",                        // 3 levels x 3 blocks
        };
        for (String n : none) {
            assertNull(CheckpointKeys.unet(n, l), n);
        }
    }

    @Test
    void sd15NamesFollowItsConfig() {
        UNetLayout l = release("stable-diffusion-v1-5");
        assertEquals("up_blocks.0.upsamplers.0.conv.weight", CheckpointKeys.unet("output_blocks.2.1.conv.weight", l));
        assertEquals("up_blocks.2.upsamplers.0.conv.weight", CheckpointKeys.unet("output_blocks.8.2.conv.weight", l));
        assertEquals("down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k.weight",
                CheckpointKeys.unet("input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight", l));
        assertEquals("down_blocks.3.resnets.1.conv2.weight", CheckpointKeys.unet("input_blocks.11.0.out_layers.3.weight", l));
        assertNull(CheckpointKeys.unet("label_emb.0.0.weight", l), "SD 1.5 has no added embedding");
        assertNull(CheckpointKeys.unet("input_blocks.1.1.transformer_blocks.1.attn1.to_q.weight", l), "depth 1");
        assertNull(CheckpointKeys.unet("input_blocks.10.1.norm.weight", l), "level 3 is a DownBlock2D");
    }

    @Test
    void anotherLayoutMovesEveryIndex() {
        // layers_per_block 3, two levels, attention only on the second down / first up level, depth 4:
        // a layout no fixture has, so only the config can give these numbers
        UNetLayout l = new UNetLayout(3, List.of(false, true), List.of(true, false), new int[] {1, 4},
                new int[] {32, 64}, 4, 4, 48, 128, 0);
        assertEquals("down_blocks.0.resnets.2.conv1.weight", CheckpointKeys.unet("input_blocks.3.0.in_layers.2.weight", l));
        assertEquals("down_blocks.0.downsamplers.0.conv.weight", CheckpointKeys.unet("input_blocks.4.0.op.weight", l));
        assertEquals("down_blocks.1.resnets.0.norm1.weight", CheckpointKeys.unet("input_blocks.5.0.in_layers.0.weight", l));
        assertEquals("down_blocks.1.attentions.2.transformer_blocks.3.attn1.to_q.weight",
                CheckpointKeys.unet("input_blocks.7.1.transformer_blocks.3.attn1.to_q.weight", l));
        assertNull(CheckpointKeys.unet("input_blocks.8.0.op.weight", l));
        assertEquals("up_blocks.0.attentions.3.norm.weight", CheckpointKeys.unet("output_blocks.3.1.norm.weight", l));
        assertEquals("up_blocks.0.upsamplers.0.conv.weight", CheckpointKeys.unet("output_blocks.3.2.conv.weight", l));
        assertEquals("up_blocks.1.resnets.0.conv2.weight", CheckpointKeys.unet("output_blocks.4.0.out_layers.3.weight", l));
        assertNull(CheckpointKeys.unet("output_blocks.7.1.conv.weight", l));
        assertNull(CheckpointKeys.unet("input_blocks.1.1.norm.weight", l));
        assertEquals("mid_block.attentions.0.transformer_blocks.3.attn2.to_k.weight",
                CheckpointKeys.unet("middle_block.1.transformer_blocks.3.attn2.to_k.weight", l));
        assertNull(CheckpointKeys.unet("middle_block.1.transformer_blocks.4.attn2.to_k.weight", l));
    }

    @Test
    void everyNameOfTheTinyFileHasItsPlace() {
        // the real SDXL base layout and the tiny one differ in levels; both must leave no name unplaced
        try (SingleFileCheckpoint c = SingleFileCheckpoint.open(Fixtures.root().resolve("single-file/tiny-sdxl.safetensors"))) {
            UNetLayout l = UNetLayout.read(Fixtures.dir("tiny-sdxl").resolve("unet/config.json"));
            for (String k : c.unetTensors().keySet()) {
                assertTrue(CheckpointKeys.unet(k, l) != null, k);
            }
        }
    }

    @Test
    void configsTheLayoutCannotFollowAreNamedErrors(@TempDir Path dir) throws Exception {
        String base = Files.readString(Fixtures.configs().resolve("stable-diffusion-xl-base-1.0/unet/config.json"));
        String[][] cases = {
                {"\"layers_per_block\": 2", "\"layers_per_block\": [2, 2, 2]", "layers_per_block [2,2,2]: per-level lists are not supported"},
                {"\"transformer_layers_per_block\": [\n    1,\n    2,\n    10\n  ]", "\"transformer_layers_per_block\": [1, 2]",
                        "need one entry per level, got 3, 3, 3, 2"},
                {"\"DownBlock2D\",", "\"AttnDownBlock2D\",", "down_block_types entry 'AttnDownBlock2D' is not supported"},
                {"\"addition_embed_type\": \"text_time\"", "\"addition_embed_type\": \"image\"", "addition_embed_type 'image' is not supported"},
                {"\"block_out_channels\": [\n    320,\n    640,\n    1280\n  ],", "", "missing required key 'block_out_channels'"},
        };
        for (String[] c : cases) {
            assertTrue(base.contains(c[0]), c[0]);
            Path f = dir.resolve("config.json");
            Files.writeString(f, base.replace(c[0], c[1]));
            ModelLoadException e = assertThrows(ModelLoadException.class, () -> UNetLayout.read(f));
            assertTrue(e.getMessage().startsWith(f + ": ") && e.getMessage().contains(c[2]), e.getMessage());
        }
    }
}
