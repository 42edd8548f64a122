package dev.tenstep.model.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * tiny-sdxl cases 5 ({@code add_time_ids}), 6 ({@code unet}: the added text_time conditioning, per-level transformer
 * depth, levels without attention) and 12 ({@code debug_intermediates}, UNet part and Euler's step 0).
 */
class SdxlUNetFixtureTest {
    static final String FX = Fixtures.SDXL;

    @Test
    void timeIdsOfBothCases() throws Exception {
        JsonNode in = Fixtures.caseById(FX, "add_time_ids").get("inputs");
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(FX, "add_time_ids.safetensors"), m);
            for (String name : List.of("time_ids_a", "time_ids_b")) {
                JsonNode c = in.get(name);
                float[] ids = AddedConditioning.timeIds(c.get("original_size").get(0).asInt(), c.get("original_size").get(1).asInt(),
                        c.get("crops_coords_top_left").get(0).asInt(), c.get("crops_coords_top_left").get(1).asInt(),
                        c.get("target_size").get(0).asInt(), c.get("target_size").get(1).asInt());
                Allclose.assertExact(name, ref.get(name), m.create(ids, new Shape(1, 6)));
            }
        }
        assertThrows(IllegalArgumentException.class, () -> AddedConditioning.timeIds(0, 128, 0, 0, 128, 128));
    }

    @Test
    void matchesReferenceOutputs() throws Exception {
        try (NDManager manager = NDManager.newBaseManager();
             UNet2DConditionModel unet = UNet2DConditionModel.load(Fixtures.dir(FX).resolve("unet"), manager)) {
            assertTrue(unet.downBlocks.get(0).attentions.isEmpty(), "DownBlock2D has no attention");
            assertEquals(2, unet.downBlocks.get(1).attentions.get(0).transformerBlocks.size());
            assertEquals(2, unet.midBlock.attentions.get(0).transformerBlocks.size());
            assertEquals(2, unet.upBlocks.get(0).attentions.get(0).transformerBlocks.size());
            assertTrue(unet.upBlocks.get(1).attentions.isEmpty(), "UpBlock2D has no attention");
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(FX, "unet.safetensors"), manager);
            AddedConditioning added = new AddedConditioning(ref.get("text_embeds"), ref.get("time_ids"));
            Map<String, Float> cases = new LinkedHashMap<>();
            cases.put("out_t999", 999f);
            cases.put("out_t500", 500f);
            cases.put("out_t1", 1f);
            cases.put("out_t437_25", 437.25f);
            for (Map.Entry<String, Float> c : cases.entrySet()) {
                long before = manager.getManagedArrays().size();
                NDArray out = unet.forward(ref.get("latents"), c.getValue(), ref.get("encoder_hidden_states"), added, null);
                assertEquals(manager, out.getManager());
                assertEquals(before + 1, manager.getManagedArrays().size(), "only the result is left in the caller's manager");
                Allclose.assertClose("sdxl unet " + c.getKey(), ref.get(c.getKey()), out, Fixtures.tolerance(FX, "unet", c.getKey()));
                out.close();
            }
        }
    }

    @Test
    void matchesDebugIntermediates() throws Exception {
        try (NDManager manager = NDManager.newBaseManager();
             UNet2DConditionModel unet = UNet2DConditionModel.load(Fixtures.dir(FX).resolve("unet"), manager)) {
            Map<String, NDArray> in = SafeTensors.read(Fixtures.reference(FX, "unet.safetensors"), manager);
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(FX, "debug_intermediates.safetensors"), manager);
            Map<String, NDArray> got = new LinkedHashMap<>();
            unet.forward(in.get("latents"), 500f, in.get("encoder_hidden_states"),
                    new AddedConditioning(in.get("text_embeds"), in.get("time_ids")), (name, a) -> {
                        NDArray copy = a.duplicate();
                        copy.attach(manager);
                        got.put(name, copy);
                    });
            List<String> expected = List.of("unet.time_proj", "unet.time_embedding", "unet.add_time_proj", "unet.add_embedding",
                    "unet.conv_in", "unet.down_blocks.0", "unet.down_blocks.1.attentions.0", "unet.down_blocks.1",
                    "unet.mid_block.attentions.0", "unet.mid_block", "unet.up_blocks.0", "unet.up_blocks.1",
                    "unet.conv_norm_out", "unet.conv_out");
            for (String name : expected) {
                assertTrue(got.containsKey(name), "hook reported " + name);
                Allclose.assertClose("sdxl " + name, ref.get(name), got.get(name),
                        Fixtures.tolerance(FX, "debug_intermediates", name));
            }
        }
    }

    /**
     * Case 12's Euler step 0 ({@code pipeline_euler.step0.*}): the scaled model input {@code cat[x, x] / sqrt(sigma_0^2 + 1)}
     * of {@code x = initial_latents x init_noise_sigma}, and the raw UNet output on it at case 9's first timestep with
     * case 9's conditioning (zero unconditional row).
     */
    @Test
    void eulerStepZeroOfTheDebugIntermediates() throws Exception {
        try (NDManager manager = NDManager.newBaseManager();
             UNet2DConditionModel unet = UNet2DConditionModel.load(Fixtures.dir(FX).resolve("unet"), manager)) {
            Map<String, NDArray> e = SafeTensors.read(Fixtures.reference(FX, "pipeline_euler.safetensors"), manager);
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(FX, "debug_intermediates.safetensors"), manager);
            double s0 = e.get("sigmas").getFloat(0);
            NDArray x = e.get("initial_latents").mul(e.get("init_noise_sigma").getFloat(0));
            String input = "pipeline_euler.step0.latent_model_input";
            Allclose.assertClose("sdxl " + input, ref.get(input), x.concat(x, 0).div((float) Math.sqrt(s0 * s0 + 1)),
                    Fixtures.tolerance(FX, "debug_intermediates", input));
            NDArray out = unet.forward(ref.get(input), e.get("timesteps").getFloat(0), e.get("prompt_embeds"),
                    new AddedConditioning(e.get("add_text_embeds"), e.get("add_time_ids")), null);
            Allclose.assertClose("sdxl pipeline_euler.step0.noise_pred", ref.get("pipeline_euler.step0.noise_pred"), out,
                    Fixtures.tolerance(FX, "debug_intermediates", "pipeline_euler.step0.noise_pred"));
        }
    }

    @Test
    void addedConditioningIsRequiredAndChecked() throws Exception {
        try (NDManager manager = NDManager.newBaseManager();
             UNet2DConditionModel unet = UNet2DConditionModel.load(Fixtures.dir(FX).resolve("unet"), manager)) {
            NDArray x = manager.zeros(new Shape(1, 4, 8, 8));
            NDArray ctx = manager.zeros(new Shape(1, 77, 56));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> unet.forward(x, 10f, ctx));
            assertTrue(e.getMessage().contains("needs text_embeds and time_ids"), e.getMessage());
            AddedConditioning wrong = new AddedConditioning(manager.zeros(new Shape(1, 24)), manager.zeros(new Shape(1, 6)));
            e = assertThrows(IllegalArgumentException.class, () -> unet.forward(x, 10f, ctx, wrong, null));
            assertTrue(e.getMessage().contains("text_embeds must be [1, 20]"), e.getMessage());
        }
        try (NDManager manager = NDManager.newBaseManager();
             UNet2DConditionModel sd = UNet2DConditionModel.load(Fixtures.dir(Fixtures.SD15).resolve("unet"), manager)) {
            AddedConditioning any = new AddedConditioning(manager.zeros(new Shape(1, 20)), manager.zeros(new Shape(1, 6)));
            assertThrows(IllegalArgumentException.class, () -> sd.forward(manager.zeros(new Shape(1, 4, 8, 8)), 10f,
                    manager.zeros(new Shape(1, 77, 32)), any, null));
        }
    }
}
