package dev.tenstep.model.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Golden-fixture checks of {@link AutoencoderKL} (cases "vae" and "debug_intermediates"; tiny-sdxl case 7). */
class VaeReferenceTest {

    /** SDXL's latents are scaled by its config's 0.13025, not SD's 0.18215: the decode case above divides by it. */
    @org.junit.jupiter.api.Test
    void sdxlScalingFactorComesFromTheConfig() {
        try (NDManager m = NDManager.newBaseManager()) {
            AutoencoderKL vae = AutoencoderKL.load(Fixtures.dir(Fixtures.SDXL).resolve("vae"), m);
            assertEquals(0.13025, vae.config().scalingFactor());
            assertTrue(vae.config().forceUpcast());
            assertEquals(8, vae.config().downscale(), "four levels: image = 8 x latent");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21, Fixtures.SDXL})
    void decodeMatchesReference(String fixture) throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            AutoencoderKL vae = AutoencoderKL.load(Fixtures.dir(fixture).resolve("vae"), m);
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(fixture, "vae.safetensors"), m);
            NDArray z = ref.get("decode_latents").div((float) vae.config().scalingFactor());
            long t0 = System.nanoTime();
            NDArray image = vae.decode(z);
            long t1 = System.nanoTime();
            long t2 = System.nanoTime();
            for (int i = 0; i < 3; i++) {
                vae.decode(z).close();
            }
            System.out.printf("[timing] %s VAE decode %s -> %s: first %.1f ms, warm %.1f ms%n", fixture, z.getShape(),
                    image.getShape(), (t1 - t0) / 1e6, (System.nanoTime() - t2) / 3e6);
            Allclose.assertClose(fixture + " vae.decode_image", ref.get("decode_image"), image,
                    Fixtures.tolerance(fixture, "vae", "decode_image"));
            assertEquals(m, image.getManager(), "result attached to the input's manager");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21, Fixtures.SDXL})
    void encodeMatchesReference(String fixture) throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            AutoencoderKL vae = AutoencoderKL.load(Fixtures.dir(fixture).resolve("vae"), m);
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(fixture, "vae.safetensors"), m);
            LatentDist d = vae.encode(ref.get("encode_image"));
            Allclose.assertClose(fixture + " vae.encode_mean", ref.get("encode_mean"), d.mean(),
                    Fixtures.tolerance(fixture, "vae", "encode_mean"));
            Allclose.assertClose(fixture + " vae.encode_logvar", ref.get("encode_logvar"), d.logvar(),
                    Fixtures.tolerance(fixture, "vae", "encode_logvar"));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21, Fixtures.SDXL})
    void decodeIntermediatesMatchReference(String fixture) throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            AutoencoderKL vae = AutoencoderKL.load(Fixtures.dir(fixture).resolve("vae"), m);
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(fixture, "vae.safetensors"), m);
            Map<String, NDArray> debug = SafeTensors.read(Fixtures.reference(fixture, "debug_intermediates.safetensors"), m);
            Map<String, NDArray> seen = new TreeMap<>();
            NDArray image = vae.decode(ref.get("decode_latents").div((float) vae.config().scalingFactor()), seen::put);
            int levels = vae.config().blockOutChannels().length;
            assertTrue(seen.keySet().containsAll(java.util.List.of("vae.post_quant_conv", "vae.decoder.conv_in",
                    "vae.decoder.mid_block", "vae.decoder.up_blocks." + (levels - 1))), seen.keySet().toString());
            int compared = 0;
            for (Map.Entry<String, NDArray> e : debug.entrySet()) {
                if (!e.getKey().startsWith("vae.")) {
                    continue;
                }
                NDArray actual = seen.get(e.getKey());
                assertTrue(actual != null, "hook did not report " + e.getKey());
                Allclose.assertClose(fixture + " " + e.getKey(), e.getValue(), actual,
                        Fixtures.tolerance(fixture, "debug_intermediates", e.getKey()));
                compared++;
            }
            assertEquals(4, compared, "vae.* debug tensors in the fixture");
            // the hook's arrays outlive the call and the output is unaffected by the hook
            Allclose.assertClose(fixture + " vae.decode_image (with hook)", ref.get("decode_image"), image,
                    Fixtures.tolerance(fixture, "vae", "decode_image"));
            assertFalse(seen.get("vae.decoder.mid_block").isReleased());
        }
    }
}
