package dev.tenstep.model.vae;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.model.nn.AttentionSettings;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Manager hygiene and sliced mid-block attention of {@link AutoencoderKL}. */
class VaeMemoryTest {

    private static int managed(NDManager m) {
        return ((BaseNDManager) m).getManagedArrays().size();
    }

    @Test
    void onlyTheResultIsLeftInTheCallersManager() throws IOException {
        try (NDManager weights = NDManager.newBaseManager(); NDManager caller = weights.newSubManager()) {
            AutoencoderKL vae = AutoencoderKL.load(Fixtures.dir(Fixtures.SD15).resolve("vae"), weights);
            int weightArrays = managed(weights);
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(Fixtures.SD15, "vae.safetensors"), caller);
            NDArray z = ref.get("decode_latents").div((float) vae.config().scalingFactor());
            int before = managed(caller);
            NDArray image = vae.decode(z);
            assertEquals(before + 1, managed(caller), "decode leaves only its output in the caller's manager");
            assertEquals(caller, image.getManager());
            NDArray x = image.clip(-1, 1);
            before = managed(caller);
            LatentDist d = vae.encode(x);
            assertEquals(before + 2, managed(caller), "encode leaves only mean and logvar in the caller's manager");
            assertEquals(caller, d.mean().getManager());
            assertEquals(caller, d.logvar().getManager());
            // getManagedArrays counts sub-managers' arrays too
            assertEquals(weightArrays, managed(weights) - managed(caller), "nothing new in the weights' manager");
        }
    }

    @Test
    void slicedMidBlockAttentionMatchesReference() throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            AutoencoderKL vae = AutoencoderKL.load(Fixtures.dir(Fixtures.SD15).resolve("vae"), m);
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(Fixtures.SD15, "vae.safetensors"), m);
            NDArray z = ref.get("decode_latents").div((float) vae.config().scalingFactor());
            NDArray fused = vae.decode(z); // default: the fused tiled kernel
            NDArray whole;
            try (AttentionSettings.Scope off = AttentionSettings.use(AttentionSettings.parse("off", 0))) {
                whole = vae.decode(z);
            }
            // 16x16 latent -> 256 tokens; 8 KiB per slice = 8 query rows of 256 keys: 32 slices
            NDArray sliced;
            try (AttentionSettings.Scope auto = AttentionSettings.use(
                    new AttentionSettings(false, AttentionSettings.AUTO_ROWS, 8L * 256 * 4))) {
                assertEquals(8, AttentionSettings.current().rowsPerSlice(1, 256));
                sliced = vae.decode(z);
            }
            Allclose.assertClose("sliced vs whole attention: decode", whole, sliced, 1e-6, 0);
            Allclose.assertClose("fused vs whole attention: decode", whole, fused, 1e-5, 1e-5);
            Allclose.assertClose("tiny-sd15 vae.decode_image (sliced attention)", ref.get("decode_image"), sliced,
                    Fixtures.tolerance(Fixtures.SD15, "vae", "decode_image"));
        }
    }
}
