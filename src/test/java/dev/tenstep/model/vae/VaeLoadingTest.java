package dev.tenstep.model.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BiFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Weight naming schemes, strict loading and input validation of {@link AutoencoderKL}. */
class VaeLoadingTest {

    /** Copies tiny-sd21's vae/ into {@code dir}, rewriting each tensor (name, array) with {@code edit}; null drops it. */
    private static Path copyVae(Path dir, NDManager m, BiFunction<String, NDArray, Map.Entry<String, NDArray>> edit)
            throws IOException {
        Path src = Fixtures.dir(Fixtures.SD21).resolve("vae");
        Files.copy(src.resolve("config.json"), dir.resolve("config.json"));
        Map<String, NDArray> out = new LinkedHashMap<>();
        for (Map.Entry<String, NDArray> e : SafeTensors.read(src.resolve("diffusion_pytorch_model.safetensors"), m).entrySet()) {
            Map.Entry<String, NDArray> r = edit.apply(e.getKey(), e.getValue());
            if (r != null) {
                out.put(r.getKey(), r.getValue());
            }
        }
        SafeTensors.write(dir.resolve("diffusion_pytorch_model.safetensors"), out, Map.of("format", "pt"));
        return dir;
    }

    private static NDArray referenceDecode(AutoencoderKL vae, NDManager m) throws IOException {
        Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(Fixtures.SD21, "vae.safetensors"), m);
        return vae.decode(ref.get("decode_latents").div((float) vae.config().scalingFactor()));
    }

    @Test
    void namingSchemesAreEquivalent() {
        assertEquals("decoder.mid_block.attentions.0.to_q.weight", VaeNames.toCurrent("decoder.mid_block.attentions.0.query.weight"));
        assertEquals("encoder.mid_block.attentions.0.to_out.0.bias", VaeNames.toCurrent("encoder.mid_block.attentions.0.proj_attn.bias"));
        assertEquals("decoder.mid_block.attentions.0.value.weight", VaeNames.toLegacy("decoder.mid_block.attentions.0.to_v.weight"));
        assertEquals("decoder.up_blocks.0.resnets.0.conv1.weight", VaeNames.toCurrent("decoder.up_blocks.0.resnets.0.conv1.weight"));
    }

    @Test
    void legacyNamedFileLoadsLikeCurrentNamedFile(@TempDir Path tmp) throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            int[] renamed = {0};
            Path legacy = copyVae(tmp, m, (n, a) -> {
                String l = VaeNames.toLegacy(n);
                if (!l.equals(n)) {
                    renamed[0]++;
                }
                return Map.entry(l, a);
            });
            assertEquals(16, renamed[0], "encoder+decoder x q/k/v/out x weight/bias renamed");
            NDArray current = referenceDecode(AutoencoderKL.load(Fixtures.dir(Fixtures.SD21).resolve("vae"), m), m);
            NDArray fromLegacy = referenceDecode(AutoencoderKL.load(legacy, m), m);
            Allclose.assertClose("legacy vs current names: decode", current, fromLegacy, 0, 0);
            LatentDist a = AutoencoderKL.load(Fixtures.dir(Fixtures.SD21).resolve("vae"), m).encode(fromLegacy.clip(-1, 1));
            LatentDist b = AutoencoderKL.load(legacy, m).encode(fromLegacy.clip(-1, 1));
            Allclose.assertClose("legacy vs current names: encode mean", a.mean(), b.mean(), 0, 0);
        }
    }

    @Test
    void convShapedLegacyAttentionWeightsAreAccepted(@TempDir Path tmp) throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            Path conv = copyVae(tmp, m, (n, a) -> {
                String l = VaeNames.toLegacy(n);
                boolean attnWeight = !l.equals(n) && n.endsWith(".weight");
                return Map.entry(l, attnWeight ? a.reshape(a.getShape().get(0), a.getShape().get(1), 1, 1) : a);
            });
            NDArray current = referenceDecode(AutoencoderKL.load(Fixtures.dir(Fixtures.SD21).resolve("vae"), m), m);
            NDArray fromConv = referenceDecode(AutoencoderKL.load(conv, m), m);
            Allclose.assertClose("1x1-conv attention weights: decode", current, fromConv, 0, 0);
        }
    }

    @Test
    void missingTensorIsNamed(@TempDir Path tmp) throws IOException {
        String victim = "decoder.up_blocks.1.resnets.2.norm2.bias";
        try (NDManager m = NDManager.newBaseManager()) {
            Path broken = copyVae(tmp, m, (n, a) -> n.equals(victim) ? null : Map.entry(n, a));
            ModelLoadException e = assertThrows(ModelLoadException.class, () -> AutoencoderKL.load(broken, m));
            assertTrue(e.getMessage().contains(victim), e.getMessage());
        }
    }

    @Test
    void missingLegacyAttentionTensorIsNamed(@TempDir Path tmp) throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            Path broken = copyVae(tmp, m, (n, a) -> n.equals("encoder.mid_block.attentions.0.to_k.bias")
                    ? null : Map.entry(VaeNames.toLegacy(n), a));
            ModelLoadException e = assertThrows(ModelLoadException.class, () -> AutoencoderKL.load(broken, m));
            assertTrue(e.getMessage().contains("encoder.mid_block.attentions.0.to_k.bias"), e.getMessage());
        }
    }

    @Test
    void unexpectedTensorIsNamed(@TempDir Path tmp) throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            Path extra = copyVae(tmp, m, (n, a) -> Map.entry(n.equals("quant_conv.bias") ? "quant_conv.extra" : n, a));
            ModelLoadException e = assertThrows(ModelLoadException.class, () -> AutoencoderKL.load(extra, m));
            assertTrue(e.getMessage().contains("quant_conv.bias"), e.getMessage());
        }
        try (NDManager m = NDManager.newBaseManager()) {
            Path tmp2 = Files.createDirectory(tmp.resolve("extra"));
            Path extra = copyVae(tmp2, m, (n, a) -> Map.entry(n, a));
            Map<String, NDArray> all = new LinkedHashMap<>(SafeTensors.read(extra.resolve("diffusion_pytorch_model.safetensors"), m));
            all.put("decoder.up_blocks.2.resnets.0.conv1.weight", m.zeros(new ai.djl.ndarray.types.Shape(1)));
            SafeTensors.write(extra.resolve("diffusion_pytorch_model.safetensors"), all, Map.of("format", "pt"));
            ModelLoadException e = assertThrows(ModelLoadException.class, () -> AutoencoderKL.load(extra, m));
            assertTrue(e.getMessage().contains("decoder.up_blocks.2.resnets.0.conv1.weight"), e.getMessage());
        }
    }

    @Test
    void inputSizesAreChecked() {
        try (NDManager m = NDManager.newBaseManager()) {
            AutoencoderKL vae = AutoencoderKL.load(Fixtures.dir(Fixtures.SD15).resolve("vae"), m);
            assertEquals(4, vae.config().downscale());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> vae.encode(m.zeros(new ai.djl.ndarray.types.Shape(1, 3, 64, 66))));
            assertTrue(e.getMessage().contains("66"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> vae.decode(m.zeros(new ai.djl.ndarray.types.Shape(1, 3, 8, 8))));
            // odd latent sizes decode fine; encode of a multiple-of-4 size gives the quarter size
            assertEquals(new ai.djl.ndarray.types.Shape(1, 3, 20, 12), vae.decode(m.zeros(new ai.djl.ndarray.types.Shape(1, 4, 5, 3))).getShape());
            assertEquals(new ai.djl.ndarray.types.Shape(2, 4, 3, 5), vae.encode(m.zeros(new ai.djl.ndarray.types.Shape(2, 3, 12, 20))).mean().getShape());
        }
    }
}
