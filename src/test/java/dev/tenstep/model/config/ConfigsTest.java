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

/** Every real release config and both fixtures parse with the right values; unsupported features are clear errors. */
class ConfigsTest {
    static final String SD15 = "stable-diffusion-v1-5";
    static final String SD21_BASE = "stable-diffusion-2-1-base";
    static final String SD21 = "stable-diffusion-2-1";

    @TempDir
    Path tmp;

    static Path release(String name) {
        return Fixtures.configs().resolve(name);
    }

    static UNetConfig unet(Path dir) {
        return Configs.read(dir.resolve("unet/config.json"), UNetConfig.class);
    }

    static VaeConfig vae(Path dir) {
        return Configs.read(dir.resolve("vae/config.json"), VaeConfig.class);
    }

    static SchedulerConfig scheduler(Path dir) {
        return Configs.read(dir.resolve("scheduler/scheduler_config.json"), SchedulerConfig.class);
    }

    static TextEncoderConfig textEncoder(Path dir) {
        return Configs.read(dir.resolve("text_encoder/config.json"), TextEncoderConfig.class);
    }

    static ModelIndex index(Path dir) {
        return Configs.read(dir.resolve("model_index.json"), ModelIndex.class);
    }

    static final List<String> DOWN4 = List.of("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D");
    static final List<String> UP4 = List.of("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D");

    // ---------------------------------------------------------------- real releases

    @Test
    void sd15UnetParses() {
        UNetConfig u = unet(release(SD15));
        assertEquals(4, u.inChannels());
        assertEquals(4, u.outChannels());
        assertEquals(64, u.sampleSize());
        assertEquals(DOWN4, u.downBlockTypes());
        assertEquals(UP4, u.upBlockTypes());
        assertEquals("UNetMidBlock2DCrossAttn", u.midBlockType());
        assertArrayEquals(new int[] {320, 640, 1280, 1280}, u.blockOutChannels());
        assertEquals(4, u.levels());
        assertEquals(2, u.layersPerBlock());
        assertArrayEquals(new int[] {8, 8, 8, 8}, u.headsPerBlock());
        assertEquals(768, u.crossAttentionDim());
        assertEquals(32, u.normNumGroups());
        assertEquals(1e-5, u.normEps());
        assertFalse(u.useLinearProjection());
        assertFalse(u.upcastAttention(), "absent upcast_attention defaults to false");
        assertTrue(u.flipSinToCos());
        assertEquals(0.0, u.freqShift());
        assertEquals(1, u.downsamplePadding());
        assertEquals(1280, u.timeEmbeddingDim());
    }

    @Test
    void sd21Unets() {
        for (String name : List.of(SD21_BASE, SD21)) {
            UNetConfig u = unet(release(name));
            assertArrayEquals(new int[] {5, 10, 20, 20}, u.headsPerBlock(), name);
            assertArrayEquals(new int[] {320, 640, 1280, 1280}, u.blockOutChannels());
            assertEquals(1024, u.crossAttentionDim());
            assertTrue(u.useLinearProjection());
            assertEquals(DOWN4, u.downBlockTypes());
            assertEquals(UP4, u.upBlockTypes());
            assertEquals(32, u.normNumGroups());
            assertEquals(1280, u.timeEmbeddingDim());
            // head size 64 everywhere
            for (int i = 0; i < 4; i++) {
                assertEquals(64, u.blockOutChannels()[i] / u.headsPerBlock()[i]);
            }
        }
        assertEquals(64, unet(release(SD21_BASE)).sampleSize());
        assertFalse(unet(release(SD21_BASE)).upcastAttention());
        assertEquals(96, unet(release(SD21)).sampleSize());
        assertTrue(unet(release(SD21)).upcastAttention());
    }

    @Test
    void releaseVaes() {
        for (String name : List.of(SD15, SD21_BASE, SD21)) {
            VaeConfig v = vae(release(name));
            assertArrayEquals(new int[] {128, 256, 512, 512}, v.blockOutChannels(), name);
            assertEquals(0.18215, v.scalingFactor(), "absent scaling_factor takes the default");
            assertEquals(8, v.downscale());
            assertEquals(4, v.latentChannels());
            assertEquals(3, v.inChannels());
            assertEquals(3, v.outChannels());
            assertEquals(2, v.layersPerBlock());
            assertEquals(32, v.normNumGroups());
            assertEquals("silu", v.actFn());
        }
        assertEquals(512, vae(release(SD15)).sampleSize());
        assertEquals(768, vae(release(SD21)).sampleSize());
    }

    @Test
    void releaseSchedulers() {
        for (String name : List.of(SD15, SD21_BASE, SD21)) {
            SchedulerConfig s = scheduler(release(name));
            assertEquals(1000, s.numTrainTimesteps(), name);
            assertEquals(0.00085, s.betaStart());
            assertEquals(0.012, s.betaEnd());
            assertEquals("scaled_linear", s.betaSchedule());
            assertNull(s.trainedBetas());
            assertEquals(1, s.stepsOffset());
            assertFalse(s.setAlphaToOne());
            assertEquals("leading", s.timestepSpacing(), "absent timestep_spacing defaults to leading");
        }
        assertEquals("PNDMScheduler", scheduler(release(SD15)).className());
        assertEquals("epsilon", scheduler(release(SD15)).predictionType(), "absent prediction_type defaults to epsilon");
        assertFalse(scheduler(release(SD15)).isVPrediction());
        assertEquals("epsilon", scheduler(release(SD21_BASE)).predictionType());
        assertEquals("DDIMScheduler", scheduler(release(SD21)).className());
        assertEquals("v_prediction", scheduler(release(SD21)).predictionType());
        assertTrue(scheduler(release(SD21)).isVPrediction());
    }

    @Test
    void releaseTextEncoders() {
        TextEncoderConfig t15 = textEncoder(release(SD15));
        assertEquals(new TextEncoderConfig(49408, 768, 3072, 12, 12, 77, "quick_gelu", 1e-5), t15);
        for (String name : List.of(SD21_BASE, SD21)) {
            TextEncoderConfig t = textEncoder(release(name));
            assertEquals(new TextEncoderConfig(49408, 1024, 4096, 23, 16, 77, "gelu", 1e-5), t, name);
        }
    }

    @Test
    void releaseModelIndexes() {
        ModelIndex sd15 = index(release(SD15));
        assertEquals("StableDiffusionPipeline", sd15.className);
        assertEquals("StableDiffusionSafetyChecker", sd15.components.get("safety_checker"));
        assertEquals("PNDMScheduler", sd15.components.get("scheduler"));
        ModelIndex sd21 = index(release(SD21));
        assertTrue(sd21.components.containsKey("safety_checker"));
        assertNull(sd21.components.get("safety_checker"));
        assertEquals("DDIMScheduler", sd21.components.get("scheduler"));
        assertFalse(sd21.components.containsKey("requires_safety_checker"));
    }

    // ---------------------------------------------------------------- fixtures

    @Test
    void tinySd15() {
        Path d = Fixtures.dir(Fixtures.SD15);
        UNetConfig u = unet(d);
        assertArrayEquals(new int[] {16, 32, 32}, u.blockOutChannels());
        assertEquals(List.of("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"), u.downBlockTypes());
        assertEquals(List.of("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), u.upBlockTypes());
        assertArrayEquals(new int[] {2, 2, 2}, u.headsPerBlock());
        assertEquals(2, u.layersPerBlock());
        assertEquals(8, u.normNumGroups());
        assertEquals(32, u.crossAttentionDim());
        assertEquals(16, u.sampleSize());
        assertFalse(u.useLinearProjection());
        assertFalse(u.upcastAttention());
        assertEquals(64, u.timeEmbeddingDim(), "time_embedding_dim null = 4 x block_out_channels[0]");
        assertEquals("UNetMidBlock2DCrossAttn", u.midBlockType());

        VaeConfig v = vae(d);
        assertArrayEquals(new int[] {16, 32, 32}, v.blockOutChannels());
        assertEquals(4, v.downscale());
        assertEquals(8, v.normNumGroups());
        assertEquals(2, v.layersPerBlock());
        assertEquals(0.18215, v.scalingFactor());
        assertEquals(64, v.sampleSize());

        SchedulerConfig s = scheduler(d);
        assertEquals("PNDMScheduler", s.className());
        assertEquals("epsilon", s.predictionType());
        assertEquals("leading", s.timestepSpacing());
        assertEquals(1, s.stepsOffset());
        assertFalse(s.setAlphaToOne());
        assertEquals("scaled_linear", s.betaSchedule());

        assertEquals(new TextEncoderConfig(49408, 32, 128, 3, 4, 77, "quick_gelu", 1e-5), textEncoder(d));
    }

    @Test
    void tinySd21() {
        Path d = Fixtures.dir(Fixtures.SD21);
        UNetConfig u = unet(d);
        assertArrayEquals(new int[] {2, 4, 4}, u.headsPerBlock());
        assertTrue(u.useLinearProjection());
        assertTrue(u.upcastAttention());
        assertEquals(24, u.sampleSize());
        assertEquals(32, u.crossAttentionDim());
        assertEquals(8, u.normNumGroups());
        assertEquals("UNetMidBlock2DCrossAttn", u.midBlockType(), "absent mid_block_type takes the default");
        assertEquals(64, u.timeEmbeddingDim());
        assertEquals(1e-5, u.normEps());

        VaeConfig v = vae(d);
        assertArrayEquals(new int[] {16, 32}, v.blockOutChannels());
        assertEquals(2, v.downscale());
        assertEquals(48, v.sampleSize());

        SchedulerConfig s = scheduler(d);
        assertEquals("DDIMScheduler", s.className());
        assertEquals("v_prediction", s.predictionType());
        assertTrue(s.isVPrediction());
        assertEquals("leading", s.timestepSpacing());
        assertEquals(1000, s.numTrainTimesteps());
        assertEquals(0.00085, s.betaStart());
        assertEquals(0.012, s.betaEnd());
        assertEquals(1, s.stepsOffset());
        assertFalse(s.setAlphaToOne());

        assertEquals(new TextEncoderConfig(49408, 32, 128, 2, 4, 77, "gelu", 1e-5), textEncoder(d));
    }

    @Test
    void fixtureModelIndexes() {
        for (String fx : List.of(Fixtures.SD15, Fixtures.SD21)) {
            ModelIndex m = index(Fixtures.dir(fx));
            assertEquals("StableDiffusionPipeline", m.className);
            assertEquals("0.27.2", m.diffusersVersion);
            assertEquals(List.of("feature_extractor", "safety_checker", "scheduler", "text_encoder", "tokenizer", "unet", "vae"),
                    List.copyOf(m.components.keySet()), fx);
            assertTrue(m.components.containsKey("safety_checker"));
            assertNull(m.components.get("safety_checker"));
            assertEquals("CLIPTextModel", m.components.get("text_encoder"));
            assertEquals("CLIPTokenizer", m.components.get("tokenizer"));
            assertEquals("UNet2DConditionModel", m.components.get("unet"));
            assertEquals("AutoencoderKL", m.components.get("vae"));
        }
        assertEquals("PNDMScheduler", index(Fixtures.dir(Fixtures.SD15)).components.get("scheduler"));
        assertEquals("DDIMScheduler", index(Fixtures.dir(Fixtures.SD21)).components.get("scheduler"));
        assertEquals("CLIPFeatureExtractor", index(Fixtures.dir(Fixtures.SD21)).components.get("feature_extractor"));
    }

    // ---------------------------------------------------------------- defaults of absent keys

    @Test
    void absentKeysTakeDiffusersDefaults() throws IOException {
        SchedulerConfig s = Configs.read(write("scheduler_config.json", "{}"), SchedulerConfig.class);
        assertEquals(1000, s.numTrainTimesteps());
        assertEquals(0.0001, s.betaStart());
        assertEquals(0.02, s.betaEnd());
        assertEquals("linear", s.betaSchedule());
        assertEquals("epsilon", s.predictionType());
        assertEquals(0, s.stepsOffset());
        assertTrue(s.setAlphaToOne());
        assertEquals("leading", s.timestepSpacing());

        VaeConfig v = Configs.read(write("vae.json", "{\"block_out_channels\": [64, 128]}"), VaeConfig.class);
        assertEquals(1, v.layersPerBlock());
        assertEquals(32, v.normNumGroups());
        assertEquals(0.18215, v.scalingFactor());
        assertEquals("silu", v.actFn());
        assertEquals(4, v.latentChannels());

        UNetConfig u = Configs.read(write("unet.json", "{\"block_out_channels\": [64, 128], "
                + "\"down_block_types\": [\"CrossAttnDownBlock2D\", \"DownBlock2D\"], "
                + "\"up_block_types\": [\"UpBlock2D\", \"CrossAttnUpBlock2D\"], "
                + "\"transformer_layers_per_block\": [1, 1], \"only_cross_attention\": [false, false], "
                + "\"mid_block_only_cross_attention\": null, \"layers_per_block\": null, \"num_attention_heads\": null}"),
                UNetConfig.class);
        assertArrayEquals(new int[] {8, 8}, u.headsPerBlock(), "attention_head_dim defaults to 8");
        assertEquals(32, u.normNumGroups());
        assertEquals(1e-5, u.normEps());
        assertEquals(2, u.layersPerBlock());
        assertEquals(1280, u.crossAttentionDim());
        assertFalse(u.useLinearProjection());
        assertFalse(u.upcastAttention());
        assertEquals(256, u.timeEmbeddingDim());
        assertEquals("UNetMidBlock2DCrossAttn", u.midBlockType());

        TextEncoderConfig t = Configs.read(write("te.json", "{}"), TextEncoderConfig.class);
        assertEquals(new TextEncoderConfig(49408, 512, 2048, 12, 8, 77, "quick_gelu", 1e-5), t);
    }

    // ---------------------------------------------------------------- errors

    Path write(String name, String json) throws IOException {
        Path f = tmp.resolve(name);
        Files.writeString(f, json);
        return f;
    }

    /** A copy of a real config with one key replaced (or added). */
    Path variant(Path original, String name, String key, String jsonValue) throws IOException {
        var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
        var node = (com.fasterxml.jackson.databind.node.ObjectNode) mapper.readTree(original.toFile());
        node.set(key, mapper.readTree(jsonValue));
        return write(name, mapper.writeValueAsString(node));
    }

    static ModelLoadException fails(Path file, Class<?> type, String... fragments) {
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> Configs.read(file, type));
        assertTrue(e.getMessage().contains(file.toString()), "message names the file: " + e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' should contain '" + f + "'");
        }
        return e;
    }

    Path sd15Unet() {
        return release(SD15).resolve("unet/config.json");
    }

    @Test
    void sdxlAdditionEmbedding() throws IOException {
        Path f = variant(sd15Unet(), "sdxl.json", "addition_embed_type", "\"text_time\"");
        ModelLoadException e = fails(f, UNetConfig.class);
        assertEquals(f + ": addition_embed_type 'text_time' needs a positive addition_time_embed_dim, got null", e.getMessage());
        Path other = variant(sd15Unet(), "text.json", "addition_embed_type", "\"text\"");
        assertEquals(other + ": unsupported UNet feature: addition_embed_type 'text' (only text_time, SDXL's)"
                + " (Stable Diffusion 1.x, 2.x and SDXL UNets only)", fails(other, UNetConfig.class).getMessage());
    }

    @Test
    void classEmbeddings() throws IOException {
        fails(variant(sd15Unet(), "cls.json", "class_embed_type", "\"timestep\""), UNetConfig.class,
                "unsupported UNet feature", "class_embed_type 'timestep'");
        fails(variant(sd15Unet(), "ncls.json", "num_class_embeds", "1000"), UNetConfig.class,
                "unsupported UNet feature", "num_class_embeds 1000");
    }

    @Test
    void unknownBlockTypes() throws IOException {
        Path f = variant(sd15Unet(), "down.json", "down_block_types",
                "[\"CrossAttnDownBlock2D\", \"SimpleCrossAttnDownBlock2D\", \"CrossAttnDownBlock2D\", \"DownBlock2D\"]");
        ModelLoadException e = fails(f, UNetConfig.class);
        assertEquals(f + ": unsupported UNet feature: down_block_types entry 'SimpleCrossAttnDownBlock2D' "
                + "(supported: CrossAttnDownBlock2D, DownBlock2D) (Stable Diffusion 1.x, 2.x and SDXL UNets only)", e.getMessage());
        fails(variant(sd15Unet(), "up.json", "up_block_types",
                "[\"UpBlock2D\", \"CrossAttnUpBlock2D\", \"AttnUpBlock2D\", \"CrossAttnUpBlock2D\"]"), UNetConfig.class,
                "up_block_types entry 'AttnUpBlock2D'");
        fails(variant(sd15Unet(), "mid.json", "mid_block_type", "\"UNetMidBlock2DSimpleCrossAttn\""), UNetConfig.class,
                "mid_block_type 'UNetMidBlock2DSimpleCrossAttn'");
        fails(variant(sd15Unet(), "midnull.json", "mid_block_type", "null"), UNetConfig.class, "mid_block_type 'null'");
        fails(variant(sd15Unet(), "count.json", "down_block_types", "[\"DownBlock2D\"]"), UNetConfig.class,
                "down_block_types/up_block_types must have one entry per block_out_channels entry (4)");
        fails(variant(release(SD15).resolve("vae/config.json"), "vaedown.json", "down_block_types",
                "[\"DownEncoderBlock2D\", \"DownEncoderBlock2D\", \"DownEncoderBlock2D\", \"AttnDownEncoderBlock2D\"]"),
                VaeConfig.class, "down_block_types entry 'AttnDownEncoderBlock2D'");
        fails(variant(release(SD15).resolve("vae/config.json"), "vaeup.json", "up_block_types", "[\"UpDecoderBlock2D\"]"),
                VaeConfig.class, "up_block_types has 1 entries but block_out_channels 4");
    }

    @Test
    void otherUnsupportedUNetFeatures() throws IOException {
        Path u = sd15Unet();
        fails(variant(u, "a.json", "only_cross_attention", "[false, true, false, false]"), UNetConfig.class, "only_cross_attention");
        fails(variant(u, "b.json", "transformer_layers_per_block", "[1, 2]"), UNetConfig.class,
                "transformer_layers_per_block list has 2 entries, expected 4");
        fails(variant(u, "b2.json", "transformer_layers_per_block", "[[1, 1], [2, 2], [1, 1], [1, 1]]"), UNetConfig.class,
                "transformer_layers_per_block", "per-layer lists");
        fails(variant(u, "b3.json", "transformer_layers_per_block", "0"), UNetConfig.class,
                "transformer_layers_per_block entry 0 is not a positive integer");
        fails(variant(u, "c.json", "time_cond_proj_dim", "256"), UNetConfig.class, "time_cond_proj_dim");
        fails(variant(u, "d.json", "cross_attention_norm", "\"group_norm\""), UNetConfig.class, "cross_attention_norm 'group_norm'");
        fails(variant(u, "e.json", "resnet_time_scale_shift", "\"scale_shift\""), UNetConfig.class, "resnet_time_scale_shift 'scale_shift'");
        fails(variant(u, "f.json", "encoder_hid_dim", "1024"), UNetConfig.class, "encoder_hid_dim 1024");
        fails(variant(u, "g.json", "cross_attention_dim", "[768, 768, 768, 768]"), UNetConfig.class, "cross_attention_dim");
        fails(variant(u, "h.json", "attention_head_dim", "[8, 8]"), UNetConfig.class, "attention_head_dim list has 2 entries, expected 4");
        fails(variant(u, "i.json", "attention_head_dim", "7"), UNetConfig.class, "attention_head_dim (number of heads) 7 does not divide");
        fails(variant(u, "j.json", "norm_num_groups", "48"), UNetConfig.class, "not divisible by norm_num_groups 48");
        fails(variant(u, "k.json", "block_out_channels", "[]"), UNetConfig.class, "block_out_channels is empty");
        fails(variant(u, "l.json", "num_attention_heads", "8"), UNetConfig.class, "num_attention_heads");
        fails(variant(u, "m.json", "time_embedding_type", "\"fourier\""), UNetConfig.class, "time_embedding_type 'fourier'");
        fails(variant(u, "n.json", "conv_in_kernel", "7"), UNetConfig.class, "conv_in_kernel 7");
    }

    @Test
    void missingRequiredKey() throws IOException {
        var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
        var node = (com.fasterxml.jackson.databind.node.ObjectNode) mapper.readTree(sd15Unet().toFile());
        node.remove("down_block_types");
        Path f = write("nodown.json", mapper.writeValueAsString(node));
        ModelLoadException e = fails(f, UNetConfig.class);
        assertEquals(f + ": missing required key 'down_block_types'", e.getMessage());
    }

    @Test
    void wrongValueTypeNamesTheKey() throws IOException {
        fails(variant(sd15Unet(), "type.json", "block_out_channels", "\"wide\""), UNetConfig.class, "key 'block_out_channels'");
        fails(variant(release(SD15).resolve("vae/config.json"), "vtype.json", "scaling_factor", "{\"x\": 1}"), VaeConfig.class,
                "key 'scaling_factor'");
    }

    @Test
    void unsupportedPredictionType() throws IOException {
        Path f = variant(release(SD21).resolve("scheduler/scheduler_config.json"), "sample.json", "prediction_type", "\"sample\"");
        ModelLoadException e = fails(f, SchedulerConfig.class);
        assertEquals(f + ": prediction_type 'sample' is not supported (epsilon or v_prediction)", e.getMessage());
    }

    @Test
    void otherUnsupportedSchedulerSettings() throws IOException {
        Path s = release(SD15).resolve("scheduler/scheduler_config.json");
        fails(variant(s, "a.json", "beta_schedule", "\"sigmoid\""), SchedulerConfig.class, "beta_schedule 'sigmoid'");
        fails(variant(s, "b.json", "timestep_spacing", "\"karras\""), SchedulerConfig.class, "timestep_spacing 'karras'");
        fails(variant(s, "c.json", "rescale_betas_zero_snr", "true"), SchedulerConfig.class, "rescale_betas_zero_snr");
        fails(variant(s, "d.json", "thresholding", "true"), SchedulerConfig.class, "thresholding");
        fails(variant(s, "e.json", "clip_sample", "true"), SchedulerConfig.class, "clip_sample");
        fails(variant(s, "f.json", "trained_betas", "[0.1, 0.2]"), SchedulerConfig.class, "trained_betas has 2 entries");
        fails(variant(s, "g.json", "num_train_timesteps", "1"), SchedulerConfig.class, "num_train_timesteps must be >= 2");
        SchedulerConfig trailing = Configs.read(variant(s, "h.json", "timestep_spacing", "\"trailing\""), SchedulerConfig.class);
        assertEquals("trailing", trailing.timestepSpacing());
    }

    @Test
    void unsupportedTextEncoderAndVae() throws IOException {
        Path te = release(SD15).resolve("text_encoder/config.json");
        fails(variant(te, "a.json", "hidden_act", "\"relu\""), TextEncoderConfig.class, "hidden_act 'relu'");
        fails(variant(te, "b.json", "model_type", "\"t5\""), TextEncoderConfig.class, "model_type 't5'");
        fails(variant(te, "c.json", "num_attention_heads", "0"), TextEncoderConfig.class, "num_attention_heads");
        fails(variant(te, "d.json", "num_attention_heads", "5"), TextEncoderConfig.class,
                "hidden_size 768 not divisible by num_attention_heads 5");
        Path v = release(SD15).resolve("vae/config.json");
        fails(variant(v, "e.json", "shift_factor", "0.1159"), VaeConfig.class, "shift_factor");
        fails(variant(v, "f.json", "use_quant_conv", "false"), VaeConfig.class, "use_quant_conv");
        fails(variant(v, "g.json", "mid_block_add_attention", "false"), VaeConfig.class, "mid_block_add_attention");
        fails(variant(v, "h.json", "act_fn", "\"gelu\""), VaeConfig.class, "act_fn 'gelu'");
    }

    @Test
    void malformedJson() throws IOException {
        Path f = write("bad.json", "{\"block_out_channels\": [320, 640,");
        ModelLoadException e = fails(f, UNetConfig.class);
        assertTrue(e.getMessage().startsWith(f + ": "), e.getMessage());
        Path empty = write("empty.json", "");
        fails(empty, SchedulerConfig.class);
        Path arr = write("arr.json", "[1, 2]");
        fails(arr, VaeConfig.class);
        Path nul = write("null.json", "null");
        fails(nul, TextEncoderConfig.class);
    }

    @Test
    void missingFile() {
        Path f = tmp.resolve("unet/config.json");
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> Configs.read(f, UNetConfig.class));
        assertEquals("missing config file " + f, e.getMessage());
        assertThrows(ModelLoadException.class, () -> Configs.read(tmp, ModelIndex.class), "a folder is not a file");
    }

    @Test
    void modelIndexIsValidated() throws IOException {
        Path refiner = write("refiner.json", "{\"_class_name\": \"StableDiffusionXLImg2ImgPipeline\", "
                + "\"text_encoder\": [null, null], \"unet\": [\"diffusers\", \"UNet2DConditionModel\"]}");
        fails(refiner, ModelIndex.class, "pipeline StableDiffusionXLImg2ImgPipeline is not supported", "an SDXL refiner");
        Path xl = variant(Fixtures.dir(Fixtures.SDXL).resolve("model_index.json"), "xl.json", "text_encoder_2", "[null, null]");
        assertEquals(xl + ": model_index.json lacks the component 'text_encoder_2'", fails(xl, ModelIndex.class).getMessage());
        Path noVae = variant(Fixtures.dir(Fixtures.SD15).resolve("model_index.json"), "novae.json", "vae", "[null, null]");
        ModelLoadException e = fails(noVae, ModelIndex.class);
        assertEquals(noVae + ": model_index.json lacks the component 'vae'", e.getMessage());
    }
}
