package dev.tenstep.model.singlefile;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.io.TensorFile;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.model.config.Configs;
import dev.tenstep.model.config.TextEncoderConfig;
import dev.tenstep.model.vae.VaeNames;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The single-file fixtures (the folder fixtures' weights converted by diffusers' own script to the
 * CompVis layout): every view must hold exactly the folder's tensors, same names, shapes and bytes.
 */
class SingleFileFixtureTest {
    static Path singleFile(String name) {
        return Fixtures.root().resolve("single-file").resolve(name);
    }

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21})
    void viewsHoldExactlyTheFolderWeights(String fixture) throws Exception {
        Path dir = Fixtures.dir(fixture);
        try (SingleFileCheckpoint c = SingleFileCheckpoint.open(singleFile(fixture + ".safetensors"));
             NDManager m = NDManager.newBaseManager()) {
            UNetLayout uc = UNetLayout.read(dir.resolve("unet/config.json"));
            TextEncoderConfig tc = Configs.read(dir.resolve("text_encoder/config.json"), TextEncoderConfig.class);
            int n = 0;
            n += same(m, dir.resolve("unet/diffusion_pytorch_model.safetensors"), c.unet(uc, false), false);
            n += same(m, dir.resolve("vae/diffusion_pytorch_model.safetensors"), c.vae(), true);
            n += same(m, dir.resolve("text_encoder/model.safetensors"), c.textEncoder(tc), false);
            System.out.printf("[single-file] %s: %d tensors identical to the folder's; skipped %s%n", fixture, n, c.skipped());
            assertTrue(c.skipped().contains("betas") && c.skipped().contains("alphas_cumprod")
                    && c.skipped().contains("model_ema.decay"), c.skipped().toString());
            assertFalse(c.hasEma());
        }
    }

    /** Compares a view with a folder file: same names (folder VAE names made current, position_ids dropped), shapes, values. */
    private static int same(NDManager m, Path folderFile, TensorFile view, boolean vaeNames) throws Exception {
        try (SafeTensors st = SafeTensors.open(folderFile)) {
            Map<String, String> expected = new TreeMap<>();
            for (String k : st.tensors().keySet()) {
                if (!k.endsWith("position_ids")) {
                    expected.put(vaeNames ? VaeNames.toCurrent(k) : k, k);
                }
            }
            java.util.Set<String> missing = new java.util.TreeSet<>(expected.keySet());
            missing.removeAll(view.tensors().keySet());
            java.util.Set<String> extra = new java.util.TreeSet<>(view.tensors().keySet());
            extra.removeAll(expected.keySet());
            assertEquals("", missing.isEmpty() && extra.isEmpty() ? "" : "missing " + missing + " extra " + extra, folderFile.toString());
            for (Map.Entry<String, String> e : expected.entrySet()) {
                try (NDManager t = m.newSubManager()) {
                    NDArray want = st.load(t, e.getValue());
                    SafeTensors.TensorInfo info = view.tensors().get(e.getKey());
                    NDArray got = view.load(t, info);
                    if (want.getShape().dimension() == 4 && got.getShape().dimension() == 2) {
                        want = want.reshape(got.getShape()); // VAE attention stored as conv in the folder file
                    }
                    assertArrayEquals(want.getShape().getShape(), got.getShape().getShape(), e.getKey());
                    assertArrayEquals(want.toFloatArray(), got.toFloatArray(), 0f, e.getKey());
                }
            }
            return expected.size();
        }
    }

    @Test
    void fixtureShapesAreNotAReleaseAndTheErrorAsksForConfig() {
        try (SingleFileCheckpoint c = SingleFileCheckpoint.open(singleFile("tiny-sd15.safetensors"))) {
            ModelLoadException e = assertThrows(ModelLoadException.class, () -> Architecture.infer(c, null));
            assertTrue(e.getMessage().contains("--config DIR"), e.getMessage());
            assertTrue(e.getMessage().contains("UNet conv_in [16, 4, 3, 3]"), e.getMessage());
            assertTrue(e.getMessage().contains("cross-attention to_k [16, 32]"), e.getMessage());
        }
    }

    @Test
    void emaWithoutEmaWeightsIsRefused() throws Exception {
        try (SingleFileCheckpoint c = SingleFileCheckpoint.open(singleFile("tiny-sd15.safetensors"))) {
            UNetLayout uc = UNetLayout.read(Fixtures.dir(Fixtures.SD15).resolve("unet/config.json"));
            ModelLoadException e = assertThrows(ModelLoadException.class, () -> c.unet(uc, true));
            assertTrue(e.getMessage().contains("--ema: the file holds no EMA weights"), e.getMessage());
        }
    }
}
