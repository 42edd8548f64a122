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

    private static Map<String, long[]> sdxl() throws Exception {
        return new java.util.LinkedHashMap<>(OriginalLayout.sdxlKeys(Fixtures.configs().resolve("stable-diffusion-xl-base-1.0")));
    }

    private static Architecture.Inferred inferSdxl(Map<String, long[]> keys) {
        try (SingleFileCheckpoint c = SingleFileCheckpoint.of(OriginalLayout.file(keys, k -> null))) {
            return Architecture.infer(c, null);
        }
    }

    @Test
    void theSdxlUnetShapeListIsTheFolderFixtures() throws Exception {
        // the test-side SDXL UNet shapes (OriginalLayout.sdxlUnetShapes) reproduce the tiny folder's file exactly
        Path dir = Fixtures.dir("tiny-sdxl");
        Map<String, long[]> made = OriginalLayout.sdxlUnetShapes(new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(dir.resolve("unet/config.json").toFile()));
        try (dev.tenstep.io.SafeTensors st = dev.tenstep.io.SafeTensors.open(dir.resolve("unet/diffusion_pytorch_model.safetensors"))) {
            assertEquals(new java.util.TreeSet<>(st.tensors().keySet()), new java.util.TreeSet<>(made.keySet()));
            st.tensors().forEach((k, i) -> assertEquals(java.util.Arrays.toString(i.shape()), java.util.Arrays.toString(made.get(k)), k));
        }
    }

    @Test
    void realSdxlBaseKeySetHasTheReleaseSizes() throws Exception {
        Map<String, long[]> k = sdxl();
        // sd_xl_base_1.0.safetensors: 2515 tensors = UNet 1680, VAE 248, CLIP-L 197 (with position_ids), OpenCLIP-bigG 32 x 12 + 6
        assertEquals(1680, k.keySet().stream().filter(n -> n.startsWith("model.diffusion_model.")).count());
        assertEquals(248, k.keySet().stream().filter(n -> n.startsWith("first_stage_model.")).count());
        assertEquals(197, k.keySet().stream().filter(n -> n.startsWith("conditioner.embedders.0.transformer.")).count());
        assertEquals(32 * 12 + 6, k.keySet().stream().filter(n -> n.startsWith("conditioner.embedders.1.model.")).count());
        assertEquals(2515, k.size());
        assertEquals("[1280, 2816]", java.util.Arrays.toString(k.get("model.diffusion_model.label_emb.0.0.weight")));
        assertEquals("[640, 2048]", java.util.Arrays.toString(k.get("model.diffusion_model.input_blocks.4.1.transformer_blocks.1.attn2.to_k.weight")));
        assertEquals("[1280, 1280]", java.util.Arrays.toString(k.get("conditioner.embedders.1.model.text_projection")));
        assertEquals("[3840, 1280]", java.util.Arrays.toString(k.get("conditioner.embedders.1.model.transformer.resblocks.31.attn.in_proj_weight")));
    }

    @Test
    void sdxlBaseIsRecognised() throws Exception {
        Architecture.Inferred r = inferSdxl(sdxl());
        assertEquals(Release.SDXL_BASE, r.release());
        assertTrue(r.reason().contains("conditioner.embedders.0/1"), r.reason());
        // a denoiser.sigmas buffer (in some SGM files) is no weight and changes nothing
        Map<String, long[]> k = sdxl();
        k.put("denoiser.sigmas", new long[] {1000});
        assertEquals(Release.SDXL_BASE, inferSdxl(k).release());
    }

    @Test
    void anSdxlUnetOfAnotherDepthIsANamedErrorAskingForConfig() throws Exception {
        // a distilled UNet without the last transformer block of input_blocks.8 (depth 9 on that level)
        Map<String, long[]> k = sdxl();
        k.keySet().removeIf(n -> n.startsWith("model.diffusion_model.input_blocks.8.1.transformer_blocks.9."));
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> inferSdxl(k));
        assertTrue(e.getMessage().contains("UNet: missing down_blocks.2.attentions.1.transformer_blocks.9.attn2.to_k.weight "
                + "[1280, 2048]"), e.getMessage());
        assertTrue(e.getMessage().contains("Pass --config DIR"), e.getMessage());
        // one block more than the config has no diffusers name
        Map<String, long[]> deeper = sdxl();
        deeper.put("model.diffusion_model.input_blocks.4.1.transformer_blocks.2.attn1.to_q.weight", new long[] {640, 640});
        e = assertThrows(ModelLoadException.class, () -> inferSdxl(deeper));
        assertTrue(e.getMessage().contains("UNet: unexpected model.diffusion_model.input_blocks.4.1.transformer_blocks.2"
                + ".attn1.to_q.weight [640, 640]"), e.getMessage());
    }

    @Test
    void anSdxlFileWithOtherWidthsIsANamedErrorAskingForConfig() throws Exception {
        Map<String, long[]> k = sdxl();
        k.put("model.diffusion_model.label_emb.0.0.weight", new long[] {1280, 2560});
        k.put("conditioner.embedders.1.model.text_projection", new long[] {1280, 1024});
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> inferSdxl(k));
        assertTrue(e.getMessage().contains("UNet: add_embedding.linear_1.weight is [1280, 2560], expected [1280, 2816]"), e.getMessage());
        assertTrue(e.getMessage().contains("text encoder 2: text_projection.weight is [1024, 1280], expected [1280, 1280]"),
                e.getMessage());
        assertTrue(e.getMessage().contains("label_emb.0.0 [1280, 2560]"), e.getMessage());
    }

    @Test
    void anSdxlRefinerIsRefused() throws Exception {
        // sd_xl_refiner_1.0: one OpenCLIP embedder as conditioner.embedders.0.model, aesthetic-score UNet (label_emb input 2560)
        Map<String, long[]> base = sdxl();
        Map<String, long[]> k = new java.util.LinkedHashMap<>();
        base.forEach((n, s) -> {
            if (n.startsWith("conditioner.embedders.1.model.")) {
                k.put(n.replace("conditioner.embedders.1.", "conditioner.embedders.0."), s);
            } else if (!n.startsWith("conditioner.embedders.0.")) {
                k.put(n, s);
            }
        });
        k.put("model.diffusion_model.label_emb.0.0.weight", new long[] {1536, 2560});
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> SingleFileCheckpoint.of(OriginalLayout.file(k, x -> null)));
        assertTrue(e.getMessage().contains("an SDXL refiner checkpoint (its only text encoder is OpenCLIP, "
                + "conditioner.embedders.0.model.*; its UNet is conditioned on an aesthetic score, label_emb input 2560). "
                + "Refiner models are not supported"), e.getMessage());
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
