package dev.tenstep.model.singlefile;

import dev.tenstep.model.ModelLoadException;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Release recognition on the full key sets and shapes of the real SD 1.5, SD 2.1-base and SD 2.1
 * (768, v) checkpoints, built from src/test/shared/configs without allocating a weight.
 */
class ArchitectureTest {
    private static final String PROBE = "model.diffusion_model." + Architecture.V_PROBE;

    private static Map<String, long[]> keys(String release) {
        return OriginalLayout.keys(Fixtures.configs().resolve(release));
    }

    /** A norm bias of 320 values with population standard deviation {@code std} (alternating +-std). */
    private static float[] probe(double std) {
        float[] v = new float[320];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) ((i % 2 == 0 ? 1 : -1) * std + 0.01);
        }
        return v;
    }

    private static Architecture.Inferred infer(Map<String, long[]> keys, double probeStd, String predictionType) {
        try (SingleFileCheckpoint c = SingleFileCheckpoint.of(OriginalLayout.file(keys, k -> k.equals(PROBE) ? probe(probeStd) : null))) {
            return Architecture.infer(c, predictionType);
        }
    }

    @Test
    void realKeySetsHaveTheReleaseSizes() {
        // the counts pin the generated key sets: UNet 686 tensors, VAE 248, CLIP-L 196 (+position_ids), OpenCLIP 24 blocks x 12 + 6
        Map<String, long[]> sd15 = keys("stable-diffusion-v1-5");
        Map<String, long[]> sd21 = keys("stable-diffusion-2-1");
        assertEquals(686, sd15.keySet().stream().filter(k -> k.startsWith("model.diffusion_model.")).count());
        assertEquals(248, sd15.keySet().stream().filter(k -> k.startsWith("first_stage_model.")).count());
        assertEquals(197, sd15.keySet().stream().filter(k -> k.startsWith("cond_stage_model.transformer.")).count());
        assertEquals(24 * 12 + 6, sd21.keySet().stream().filter(k -> k.startsWith("cond_stage_model.model.")).count());
        assertEquals(686, sd21.keySet().stream().filter(k -> k.startsWith("model.diffusion_model.")).count());
        assertEquals("[320, 768]", java.util.Arrays.toString(sd15.get("model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight")));
        assertEquals("[512, 512, 1, 1]", java.util.Arrays.toString(sd15.get("first_stage_model.decoder.mid.attn_1.q.weight")));
        assertEquals("[3072, 1024]", java.util.Arrays.toString(sd21.get("cond_stage_model.model.transformer.resblocks.23.attn.in_proj_weight")));
        assertEquals("[1280, 1280, 3, 3]", java.util.Arrays.toString(sd21.get("model.diffusion_model.output_blocks.2.1.conv.weight")));
        assertEquals("[640, 640, 3, 3]", java.util.Arrays.toString(sd21.get("model.diffusion_model.output_blocks.8.2.conv.weight")));
    }

    @Test
    void sd15IsRecognised() {
        Architecture.Inferred r = infer(keys("stable-diffusion-v1-5"), 0, null);
        assertEquals(Release.SD_1_5, r.release());
    }

    @Test
    void sd21BaseAndSd21VAreToldApartByTheNormBiasStatistic() {
        Map<String, long[]> base = keys("stable-diffusion-2-1-base");
        Map<String, long[]> v = keys("stable-diffusion-2-1");
        assertEquals(base.keySet(), v.keySet());
        // the two releases have the same shapes; only the weights tell them apart
        Architecture.Inferred b = infer(base, 0.05, null);
        assertEquals(Release.SD_2_1_BASE, b.release());
        assertTrue(b.reason().contains("= 0.0500 <= 0.09"), b.reason());
        Architecture.Inferred vv = infer(v, 0.12, null);
        assertEquals(Release.SD_2_1_768_V, vv.release());
        assertTrue(vv.reason().contains("= 0.1200 > 0.09"), vv.reason());
    }

    @Test
    void predictionTypeOverridesTheStatistic() {
        Map<String, long[]> v = keys("stable-diffusion-2-1");
        assertEquals(Release.SD_2_1_BASE, infer(v, 0.12, "epsilon").release());
        assertEquals(Release.SD_2_1_768_V, infer(v, 0.01, "v_prediction").release());
    }

    @Test
    void releaseConfigsShipAndMatchTheSharedOnes() throws Exception {
        for (Release r : Release.values()) {
            Path dir = r.configDir();
            for (String f : new String[] {"unet/config.json", "vae/config.json", "text_encoder/config.json",
                    "scheduler/scheduler_config.json", "tokenizer/special_tokens_map.json"}) {
                assertEquals(java.nio.file.Files.readString(Fixtures.configs().resolve(r.configName).resolve(f)),
                        java.nio.file.Files.readString(dir.resolve(f)), r + " " + f);
            }
            assertTrue(java.nio.file.Files.size(dir.resolve("tokenizer/vocab.json")) > 500_000);
        }
        assertTrue(java.nio.file.Files.readString(Release.SD_2_1_768_V.configDir().resolve("scheduler/scheduler_config.json"))
                .contains("v_prediction"));
    }

    @Test
    void aFineTuneWithOtherShapesIsANamedErrorAskingForConfig() {
        Map<String, long[]> k = new java.util.LinkedHashMap<>(keys("stable-diffusion-v1-5"));
        // an inpainting UNet: 9 input channels
        k.put("model.diffusion_model.input_blocks.0.0.weight", new long[] {320, 9, 3, 3});
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> infer(k, 0, null));
        assertTrue(e.getMessage().contains("UNet conv_in [320, 9, 3, 3]"), e.getMessage());
        assertTrue(e.getMessage().contains("UNet: conv_in.weight is [320, 9, 3, 3], expected [320, 4, 3, 3]"), e.getMessage());
        assertTrue(e.getMessage().contains("Pass --config DIR"), e.getMessage());
    }

    @Test
    void anUnknownTensorIsNamed() {
        Map<String, long[]> k = new java.util.LinkedHashMap<>(keys("stable-diffusion-v1-5"));
        k.put("control_model.zero_convs.0.0.weight", new long[] {320, 320, 1, 1});
        ModelLoadException e = assertThrows(ModelLoadException.class,
                () -> SingleFileCheckpoint.of(OriginalLayout.file(k, x -> null)));
        assertTrue(e.getMessage().contains("1 tensor(s) that belong to no Stable Diffusion 1.x/2.x network: "
                + "[control_model.zero_convs.0.0.weight]"), e.getMessage());
    }

    @Test
    void aMissingUNetTensorIsNamed() {
        Map<String, long[]> k = new java.util.LinkedHashMap<>(keys("stable-diffusion-v1-5"));
        k.remove("model.diffusion_model.output_blocks.5.2.conv.bias");
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> infer(k, 0, null));
        assertTrue(e.getMessage().contains("UNet: missing up_blocks.1.upsamplers.0.conv.bias [1280]"), e.getMessage());
    }

    @Test
    void theSdxlReleaseConfigsShip() throws Exception {
        Path dir = Release.SDXL_BASE.configDir();
        for (String f : Release.SDXL_BASE.files()) {
            assertEquals(java.nio.file.Files.readString(Fixtures.configs().resolve(Release.SDXL_BASE.configName).resolve(f)),
                    java.nio.file.Files.readString(dir.resolve(f)), f);
        }
        assertTrue(java.nio.file.Files.size(dir.resolve("tokenizer_2/vocab.json")) > 500_000);
        assertTrue(java.nio.file.Files.isRegularFile(dir.resolve("tokenizer_2/merges.txt")));
        assertTrue(Release.SDXL_BASE.isSdxl() && !Release.SD_1_5.isSdxl());
    }
}
