package dev.tenstep.model.config;

import dev.tenstep.model.ModelLoadException;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The SDXL keys of every config file, read from the tiny SDXL fixture and from the real SDXL base 1.0 configs:
 * per-level transformer depths and heads, the added {@code text_time} conditioning, the projection text encoder,
 * the VAE's scaling factor and upcast flag, and the {@code StableDiffusionXLPipeline} model index.
 */
class SdxlConfigsTest {
    static final String SDXL_BASE = "stable-diffusion-xl-base-1.0";

    @TempDir
    Path tmp;

    static Path real() {
        return Fixtures.configs().resolve(SDXL_BASE);
    }

    static <T> T read(Path dir, String file, Class<T> type) {
        return Configs.read(dir.resolve(file), type);
    }

    @Test
    void realSdxlBaseUnet() {
        UNetConfig u = read(real(), "unet/config.json", UNetConfig.class);
        assertArrayEquals(new int[] {320, 640, 1280}, u.blockOutChannels());
        assertEquals(List.of("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"), u.downBlockTypes());
        assertEquals(List.of("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"), u.upBlockTypes());
        assertArrayEquals(new int[] {1, 2, 10}, u.transformerLayersPerBlock());
        assertEquals(10, u.transformerLayersMid());
        assertEquals(10, u.transformerLayersUp(0));
        assertEquals(2, u.transformerLayersUp(1));
        assertEquals(1, u.transformerLayersUp(2));
        assertArrayEquals(new int[] {5, 10, 20}, u.headsPerBlock());
        assertEquals(2048, u.crossAttentionDim());
        assertTrue(u.useLinearProjection());
        assertFalse(u.upcastAttention(), "upcast_attention null means false");
        assertTrue(u.hasTextTimeEmbedding());
        assertEquals("text_time", u.additionEmbedType());
        assertEquals(256, u.additionTimeEmbedDim());
        assertEquals(2816, u.projectionClassEmbeddingsInputDim());
        assertEquals(1280, u.textEmbedsDim(), "2816 - 6 x 256");
        assertEquals(128, u.sampleSize());
        assertEquals(1280, u.timeEmbeddingDim());
        assertEquals(32, u.normNumGroups());
    }

    @Test
    void realSdxlBaseTextEncodersVaeSchedulerIndex() {
        TextEncoderConfig t1 = read(real(), "text_encoder/config.json", TextEncoderConfig.class);
        assertEquals(new TextEncoderConfig(49408, 768, 3072, 12, 12, 77, "quick_gelu", 1e-5), t1);
        assertNull(t1.projection(), "CLIPTextModel has no projection head");
        TextEncoderConfig t2 = read(real(), "text_encoder_2/config.json", TextEncoderConfig.class);
        assertEquals(new TextEncoderConfig(49408, 1280, 5120, 32, 20, 77, "gelu", 1e-5,
                new TextEncoderConfig.TextProjection(1280, 2)), t2);

        VaeConfig v = read(real(), "vae/config.json", VaeConfig.class);
        assertEquals(0.13025, v.scalingFactor());
        assertTrue(v.forceUpcast());
        assertEquals(8, v.downscale());
        assertArrayEquals(new int[] {128, 256, 512, 512}, v.blockOutChannels());

        SchedulerConfig s = read(real(), "scheduler/scheduler_config.json", SchedulerConfig.class);
        assertEquals("EulerDiscreteScheduler", s.className());
        assertEquals("leading", s.timestepSpacing());
        assertEquals(1, s.stepsOffset());
        assertFalse(s.setAlphaToOne());

        ModelIndex m = read(real(), "model_index.json", ModelIndex.class);
        assertTrue(m.isXl());
        assertTrue(m.forceZeros());
        assertEquals("CLIPTextModelWithProjection", m.components.get("text_encoder_2"));
        assertEquals("CLIPTokenizer", m.components.get("tokenizer_2"));
        assertFalse(m.components.containsKey("add_watermarker"), "a scalar option is not a component");
        assertFalse(m.components.containsKey("force_zeros_for_empty_prompt"));
    }

    @Test
    void tinySdxlFixture() {
        Path d = Fixtures.dir(Fixtures.SDXL);
        UNetConfig u = read(d, "unet/config.json", UNetConfig.class);
        assertArrayEquals(new int[] {16, 32}, u.blockOutChannels());
        assertArrayEquals(new int[] {1, 2}, u.transformerLayersPerBlock());
        assertEquals(2, u.transformerLayersMid());
        assertEquals(2, u.transformerLayersUp(0), "up level 0 mirrors down level 1");
        assertArrayEquals(new int[] {2, 4}, u.headsPerBlock());
        assertEquals(56, u.crossAttentionDim());
        assertEquals(8, u.additionTimeEmbedDim());
        assertEquals(68, u.projectionClassEmbeddingsInputDim());
        assertEquals(20, u.textEmbedsDim());
        assertEquals(16, u.sampleSize());

        assertEquals(new TextEncoderConfig(49408, 32, 128, 3, 4, 77, "quick_gelu", 1e-5),
                read(d, "text_encoder/config.json", TextEncoderConfig.class));
        assertEquals(new TextEncoderConfig(49408, 24, 96, 4, 4, 77, "gelu", 1e-5,
                new TextEncoderConfig.TextProjection(20, 2)), read(d, "text_encoder_2/config.json", TextEncoderConfig.class));

        VaeConfig v = read(d, "vae/config.json", VaeConfig.class);
        assertEquals(0.13025, v.scalingFactor(), "from the config, not SD's 0.18215");
        assertTrue(v.forceUpcast());
        assertEquals(8, v.downscale());

        ModelIndex m = read(d, "model_index.json", ModelIndex.class);
        assertTrue(m.isXl());
        assertTrue(m.forceZeros());
        assertEquals(List.of("scheduler", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "unet", "vae"),
                List.copyOf(m.components.keySet()));
    }

    @Test
    void modelIndexEntriesScalarOrAbsent() throws IOException {
        var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
        var node = (com.fasterxml.jackson.databind.node.ObjectNode) mapper.readTree(
                Fixtures.dir(Fixtures.SDXL).resolve("model_index.json").toFile());
        node.set("feature_extractor", mapper.readTree("[null, null]"));
        node.set("image_encoder", mapper.readTree("[null, null]"));
        node.put("force_zeros_for_empty_prompt", false);
        Path f = tmp.resolve("model_index.json");
        Files.writeString(f, mapper.writeValueAsString(node));
        ModelIndex m = Configs.read(f, ModelIndex.class);
        assertTrue(m.components.containsKey("image_encoder"));
        assertNull(m.components.get("image_encoder"));
        assertFalse(m.forceZeros());
        node.remove("force_zeros_for_empty_prompt");
        Files.writeString(f, mapper.writeValueAsString(node));
        assertTrue(Configs.read(f, ModelIndex.class).forceZeros(), "absent: diffusers' default true");
    }

    /** A config the fixtures do not cover (another layout, other depths and heads) follows the file. */
    @Test
    void otherLayoutFollowsTheConfig() throws IOException {
        var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
        var node = (com.fasterxml.jackson.databind.node.ObjectNode) mapper.readTree(
                real().resolve("unet/config.json").toFile());
        node.set("block_out_channels", mapper.readTree("[64, 128, 256, 256]"));
        node.set("down_block_types", mapper.readTree(
                "[\"DownBlock2D\", \"DownBlock2D\", \"CrossAttnDownBlock2D\", \"CrossAttnDownBlock2D\"]"));
        node.set("up_block_types", mapper.readTree(
                "[\"CrossAttnUpBlock2D\", \"CrossAttnUpBlock2D\", \"UpBlock2D\", \"UpBlock2D\"]"));
        // the unused entries of levels without attention need not divide their channels
        node.set("attention_head_dim", mapper.readTree("[3, 7, 4, 8]"));
        node.set("transformer_layers_per_block", mapper.readTree("3"));
        node.put("addition_time_embed_dim", 16);
        node.put("projection_class_embeddings_input_dim", 6 * 16 + 40);
        Path f = tmp.resolve("unet.json");
        Files.writeString(f, mapper.writeValueAsString(node));
        UNetConfig u = Configs.read(f, UNetConfig.class);
        assertArrayEquals(new int[] {3, 3, 3, 3}, u.transformerLayersPerBlock(), "an int applies to every level");
        assertArrayEquals(new int[] {3, 7, 4, 8}, u.headsPerBlock());
        assertEquals(40, u.textEmbedsDim());

        node.set("attention_head_dim", mapper.readTree("[3, 7, 5, 8]"));
        Files.writeString(f, mapper.writeValueAsString(node));
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> Configs.read(f, UNetConfig.class));
        assertTrue(e.getMessage().contains("attention_head_dim (number of heads) 5 does not divide block_out_channels 256"),
                e.getMessage());

        node.set("attention_head_dim", mapper.readTree("[3, 7, 4, 8]"));
        node.put("projection_class_embeddings_input_dim", 96);
        Files.writeString(f, mapper.writeValueAsString(node));
        e = assertThrows(ModelLoadException.class, () -> Configs.read(f, UNetConfig.class));
        assertTrue(e.getMessage().contains("projection_class_embeddings_input_dim greater than 6 x addition_time_embed_dim = 96"),
                e.getMessage());
    }

    @Test
    void textEncoderArchitectures() throws IOException {
        Path f = tmp.resolve("te.json");
        Files.writeString(f, "{\"architectures\": [\"CLIPTextModelWithProjection\"], \"hidden_size\": 24, "
                + "\"num_attention_heads\": 4}");
        TextEncoderConfig c = Configs.read(f, TextEncoderConfig.class);
        assertEquals(new TextEncoderConfig.TextProjection(512, 49407), c.projection(), "transformers' defaults");
        Files.writeString(f, "{\"architectures\": [\"CLIPVisionModel\"]}");
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> Configs.read(f, TextEncoderConfig.class));
        assertTrue(e.getMessage().contains("text encoder architecture 'CLIPVisionModel' is not supported"), e.getMessage());
    }
}
