package dev.tenstep.model.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Golden cases 3 ({@code unet}) and 8 ({@code debug_intermediates}, UNet part) of both fixtures. */
class UNetFixtureTest {

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21})
    void matchesReferenceOutputs(String fixture) throws Exception {
        try (NDManager manager = NDManager.newBaseManager();
             UNet2DConditionModel unet = UNet2DConditionModel.load(Fixtures.dir(fixture).resolve("unet"), manager)) {
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(fixture, "unet.safetensors"), manager);
            NDArray latents = ref.get("latents");
            NDArray ctx = ref.get("encoder_hidden_states");
            Map<String, Float> cases = new LinkedHashMap<>();
            cases.put("out_t999", 999f);
            cases.put("out_t500", 500f);
            cases.put("out_t1", 1f);
            cases.put("out_t437_25", 437.25f);
            for (Map.Entry<String, Float> c : cases.entrySet()) {
                NDArray out = unet.forward(latents, c.getValue(), ctx);
                assertEquals(latents.getManager(), out.getManager(), "result belongs to the sample's manager");
                Allclose.assertClose(fixture + " unet " + c.getKey(), ref.get(c.getKey()), out,
                        Fixtures.tolerance(fixture, "unet", c.getKey()));
                out.close();
            }
            double[] ms = new double[7];
            for (int i = 0; i < ms.length; i++) {
                long t0 = System.nanoTime();
                unet.forward(latents, 500f, ctx).close();
                ms[i] = (System.nanoTime() - t0) / 1e6;
            }
            java.util.Arrays.sort(ms);
            System.out.printf("[timing] %s unet forward (batch 2, warm, %d runs): min %.1f ms, median %.1f ms%n",
                    fixture, ms.length, ms[0], ms[ms.length / 2]);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21})
    void matchesDebugIntermediates(String fixture) throws Exception {
        try (NDManager manager = NDManager.newBaseManager();
             UNet2DConditionModel unet = UNet2DConditionModel.load(Fixtures.dir(fixture).resolve("unet"), manager)) {
            Map<String, NDArray> in = SafeTensors.read(Fixtures.reference(fixture, "unet.safetensors"), manager);
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(fixture, "debug_intermediates.safetensors"), manager);
            Map<String, NDArray> got = new LinkedHashMap<>();
            NDArray out = unet.forward(in.get("latents"), 500f, in.get("encoder_hidden_states"), (name, a) -> {
                NDArray copy = a.duplicate();
                copy.attach(manager);
                got.put(name, copy);
            });
            int levels = unet.config().levels();
            List<String> expected = new java.util.ArrayList<>(List.of("unet.time_proj", "unet.time_embedding", "unet.conv_in"));
            for (int i = 0; i < levels; i++) {
                expected.add("unet.down_blocks." + i);
            }
            expected.add("unet.mid_block");
            for (int i = 0; i < levels; i++) {
                expected.add("unet.up_blocks." + i);
            }
            expected.add("unet.conv_norm_out");
            expected.add("unet.conv_out");
            assertEquals(expected, List.copyOf(got.keySet()), "hook names and order");
            for (String name : expected) {
                assertTrue(ref.containsKey(name), "reference has " + name);
                Allclose.assertClose(fixture + " " + name, ref.get(name), got.get(name),
                        Fixtures.tolerance(fixture, "debug_intermediates", name));
            }
            Allclose.assertClose(fixture + " unet.conv_out == forward result", got.get("unet.conv_out"), out, 0, 0);
        }
    }

    @Test
    void latentSizesThatAreNotMultiplesOfTheDownsamplingWorkAsInDiffusers() {
        try (NDManager manager = NDManager.newBaseManager();
             UNet2DConditionModel unet = UNet2DConditionModel.load(Fixtures.dir(Fixtures.SD15).resolve("unet"), manager)) {
            NDArray ctx = manager.zeros(new ai.djl.ndarray.types.Shape(1, 77, 32));
            // 15 -> 8 -> 4 on the way down; the last upsampler lands on 15 (the skip's size), not 16
            for (long[] hw : new long[][] {{16, 18}, {15, 15}, {8, 12}}) {
                NDArray sample = manager.ones(new ai.djl.ndarray.types.Shape(1, 4, hw[0], hw[1]));
                NDArray out = unet.forward(sample, 10f, ctx);
                assertEquals(new ai.djl.ndarray.types.Shape(1, 4, hw[0], hw[1]), out.getShape());
                assertTrue(Float.isFinite(out.abs().sum().getFloat()), "finite output for " + hw[0] + "x" + hw[1]);
            }
            NDArray badCtx = manager.zeros(new ai.djl.ndarray.types.Shape(1, 77, 24));
            NDArray okSample = manager.zeros(new ai.djl.ndarray.types.Shape(1, 4, 8, 12));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> unet.forward(okSample, 10f, badCtx));
            assertTrue(e.getMessage().contains("encoder_hidden_states"), e.getMessage());
        }
    }

    @Test
    void resizeNearestUsesTorchsSourceIndexRule() {
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray x = manager.arange(4f).reshape(1, 1, 1, 4);
            // torch: F.interpolate(x, size=(1, 7), mode="nearest") picks floor(i * 4 / 7) = 0,0,1,1,2,2,3
            assertArrayEquals(new float[] {0, 0, 1, 1, 2, 2, 3},
                    dev.tenstep.model.nn.Ops.resizeNearest(x, 1, 7).toFloatArray());
            NDArray y = manager.arange(6f).reshape(1, 1, 2, 3);
            assertArrayEquals(dev.tenstep.model.nn.Ops.upsampleNearest2x(y).toFloatArray(),
                    dev.tenstep.model.nn.Ops.resizeNearest(y, 4, 6).toFloatArray());
        }
    }

    static Path unetDir(String fixture) {
        return Fixtures.dir(fixture).resolve("unet");
    }
}
