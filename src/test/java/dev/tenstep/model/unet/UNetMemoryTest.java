package dev.tenstep.model.unet;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.lang.reflect.Field;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * Memory discipline of a forward: only the result stays in the caller's manager, the inputs are
 * returned to it, and nothing lands in the weights' manager.
 */
class UNetMemoryTest {
    private static int resources(NDManager m) throws Exception {
        Field f = BaseNDManager.class.getDeclaredField("resources");
        f.setAccessible(true);
        return ((Map<?, ?>) f.get(m)).size();
    }

    @Test
    void forwardLeavesOnlyItsResult() throws Exception {
        try (NDManager manager = NDManager.newBaseManager();
             UNet2DConditionModel unet = UNet2DConditionModel.load(Fixtures.dir(Fixtures.SD21).resolve("unet"), manager)) {
            NDManager weights = unet.convIn.weight.getManager();
            int weightCount = resources(weights);
            try (NDManager caller = manager.newSubManager()) {
                Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(Fixtures.SD21, "unet.safetensors"), caller);
                NDArray latents = ref.get("latents");
                NDArray ctx = ref.get("encoder_hidden_states");
                int before = resources(caller);
                NDArray out = unet.forward(latents, 437.25f, ctx, (n, a) -> { });
                assertEquals(before + 1, resources(caller), "only the result is added to the caller's manager");
                assertSame(caller, out.getManager());
                assertSame(caller, latents.getManager(), "sample returned to its manager");
                assertSame(caller, ctx.getManager(), "encoder_hidden_states returned to its manager");
                assertEquals(weightCount, resources(weights), "nothing attached to the weights' manager");
            }
        }
    }
}
