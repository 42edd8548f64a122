package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The img2img fixture's {@code latent_upscale} case: A1111's six latent upscalers at 2x and 1.5x. */
class LatentUpscalerFixtureTest {

    @Test
    void everyUpscalerMatchesTorchInterpolate() throws Exception {
        JsonNode c = null;
        for (JsonNode x : new ObjectMapper().readTree(Fixtures.root().resolve("img2img/cases.json").toFile()).get("cases")) {
            if (x.get("id").asText().equals("latent_upscale")) {
                c = x;
            }
        }
        assertTrue(c != null);
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.root().resolve("img2img/reference/latent_upscale.safetensors"), m);
            NDArray in = ref.get("first_pass_final_latents");
            int checked = 0;
            for (var it = c.get("outputs").fields(); it.hasNext(); ) {
                var e = it.next();
                LatentUpscaler u = LatentUpscaler.byName(e.getValue().get("a1111_upscaler").asText());
                int oh = e.getValue().get("size").get(0).asInt();
                int ow = e.getValue().get("size").get(1).asInt();
                float[] out = u.resize(in.toFloatArray(), in.getShape().getShape(), oh, ow);
                JsonNode tol = c.get("tolerance").get(e.getKey());
                Allclose.assertClose(e.getKey(), ref.get(e.getKey()), m.create(out, new Shape(1, 4, oh, ow)),
                        tol.get("atol").asDouble(), tol.get("rtol").asDouble());
                checked++;
            }
            assertEquals(12, checked);
        }
    }

    @Test
    void namesAndLimits() {
        assertEquals(LatentUpscaler.LATENT_NEAREST_EXACT, LatentUpscaler.byName("latent (nearest-exact)"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LatentUpscaler.byName("R-ESRGAN 4x+"))
                .getMessage().contains("unknown latent upscaler 'R-ESRGAN 4x+'"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> LatentUpscaler.LATENT_ANTIALIASED
                .resize(new float[16], new long[] {1, 1, 4, 4}, 2, 2)).getMessage().contains("only enlarge"));
    }
}
