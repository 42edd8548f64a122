package dev.tenstep.model.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The LoRA fixtures ({@code fixtures/lora}, made for tiny-sd15 / tiny-sd21): every layout gives the
 * reference deltas and merged weights of {@code tiny-sd15-kohya.merged_weights} within its tolerance.
 */
class LoraNetworkFixtureTest {
    static Path lora(String file) {
        return Fixtures.root().resolve("lora").resolve(file);
    }

    static JsonNode cases() throws Exception {
        return new ObjectMapper().readTree(lora("cases.json").toFile());
    }

    /** The weight names and shapes of a fixture pipeline's text encoder and UNet, from their safetensors headers. */
    static Map<LoraNetwork.Component, Map<String, long[]>> shapes(String pipeline) throws Exception {
        Map<LoraNetwork.Component, Map<String, long[]>> out = new EnumMap<>(LoraNetwork.Component.class);
        for (var e : Map.of(LoraNetwork.Component.TEXT_ENCODER, "text_encoder/model.safetensors",
                LoraNetwork.Component.UNET, "unet/diffusion_pytorch_model.safetensors").entrySet()) {
            try (SafeTensors st = SafeTensors.open(Fixtures.dir(pipeline).resolve(e.getValue()))) {
                Map<String, long[]> m = new LinkedHashMap<>();
                st.tensors().forEach((k, v) -> m.put(k, v.shape()));
                out.put(e.getKey(), m);
            }
        }
        return out;
    }

    @Test
    void kohyaDeltasAndMergedWeightsMatchTheReference() throws Exception {
        JsonNode c = cases();
        JsonNode mergedCase = null;
        for (JsonNode x : c.get("cases")) {
            if (x.get("id").asText().equals("tiny-sd15-kohya.merged_weights")) {
                mergedCase = x;
            }
        }
        assertTrue(mergedCase != null);
        double multiplier = mergedCase.get("multipliers").get("unet").asDouble();
        assertEquals(multiplier, mergedCase.get("multipliers").get("te").asDouble());
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> ref = SafeTensors.read(lora("reference/tiny-sd15-kohya.merged_weights.safetensors"), m);
            Map<String, NDArray> base = new LinkedHashMap<>();
            base.putAll(prefixed(m, "text_encoder", Fixtures.dir(Fixtures.SD15).resolve("text_encoder/model.safetensors")));
            base.putAll(prefixed(m, "unet", Fixtures.dir(Fixtures.SD15).resolve("unet/diffusion_pytorch_model.safetensors")));
            for (String file : List.of("tiny-sd15-kohya.safetensors", "tiny-sd15-kohya-fp16.safetensors",
                    "tiny-sd15-peft.safetensors", "tiny-sd15-kohya-unknown-key.safetensors")) {
                try (LoraNetwork n = LoraNetwork.read(lora(file), m)) {
                    assertEquals(file.contains("unknown") ? 216 : 215, n.modules().size(), file);
                    // the PEFT file's metadata is only {"format": "pt"}: it names no family
                    assertEquals(file.contains("peft") ? LoraNetwork.Family.UNKNOWN : LoraNetwork.Family.SD1, n.family(), file);
                    LoraBinding b = LoraBinding.bind(n, LoraNetwork.Family.SD1, shapes(Fixtures.SD15));
                    assertEquals(215, b.targets().size(), file);
                    int checked = 0;
                    for (LoraBinding.Target t : b.targets()) {
                        String name = t.module().component().prefix() + "." + t.weightName();
                        if (!ref.containsKey("delta." + name)) {
                            continue;
                        }
                        NDArray delta = t.module().delta(t.weightShape());
                        JsonNode tol = mergedCase.get("tolerance").get("delta." + name);
                        Allclose.assertClose(file + " delta." + name, ref.get("delta." + name), delta,
                                tol.get("atol").asDouble(), tol.get("rtol").asDouble());
                        NDArray merged = base.get(name).add(delta.mul((float) multiplier));
                        JsonNode mtol = mergedCase.get("tolerance").get("merged." + name);
                        Allclose.assertClose(file + " merged." + name, ref.get("merged." + name), merged,
                                mtol.get("atol").asDouble(), mtol.get("rtol").asDouble());
                        checked++;
                    }
                    assertEquals(15, checked, file + ": every reference module found");
                }
            }
        }
    }

    @Test
    void perModuleRankAndAlphaNotTheMetadata() throws Exception {
        try (NDManager m = NDManager.newBaseManager(); LoraNetwork n = LoraNetwork.read(lora("tiny-sd15-kohya.safetensors"), m)) {
            assertEquals(LoraNetwork.Layout.KOHYA, n.layout());
            assertEquals("4", n.metadata().get("ss_network_dim"));
            LoraNetwork.Module conv = n.modules().stream().filter(x -> x.name().equals("down_blocks_1_resnets_0_conv1")).findFirst().orElseThrow();
            assertEquals(2, conv.rank());
            assertEquals(0.75, conv.scale(), 0);
            LoraNetwork.Module q = n.modules().stream().filter(x -> x.name().equals("text_model_encoder_layers_0_self_attn_q_proj")).findFirst().orElseThrow();
            assertEquals(LoraNetwork.Component.TEXT_ENCODER, q.component());
            assertEquals(4, q.rank());
            assertEquals(0.5, q.scale(), 0);
            assertEquals(18, n.modules().stream().filter(x -> x.component() == LoraNetwork.Component.TEXT_ENCODER).count());
        }
    }

    @Test
    void unknownKeysAreReportedByName() throws Exception {
        JsonNode expected = cases().get("lora_files").get("tiny-sd15-kohya-unknown-key.safetensors").get("unknown_keys");
        List<String> want = new ArrayList<>();
        expected.forEach(k -> want.add(k.asText()));
        try (NDManager m = NDManager.newBaseManager();
             LoraNetwork n = LoraNetwork.read(lora("tiny-sd15-kohya-unknown-key.safetensors"), m)) {
            LoraBinding b = LoraBinding.bind(n, LoraNetwork.Family.SD1, shapes(Fixtures.SD15));
            assertEquals(want.stream().sorted().toList(), b.unmatchedKeys().stream().sorted().toList());
        }
    }

    @Test
    void anSd2LoraOnAnSd1ModelIsRefusedNamingBoth() throws Exception {
        try (NDManager m = NDManager.newBaseManager(); LoraNetwork n = LoraNetwork.read(lora("tiny-sd21-kohya.safetensors"), m)) {
            assertEquals(LoraNetwork.Family.SD2, n.family());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> LoraBinding.bind(n, LoraNetwork.Family.SD1, shapes(Fixtures.SD15)));
            assertTrue(e.getMessage().contains("'tiny-sd21-kohya' is for SD 2.x") && e.getMessage().contains("the model is SD 1.x"),
                    e.getMessage());
            // without metadata to go by, the shapes still tell: proj_in's linear factor on a 1x1 convolution
            IllegalArgumentException s = assertThrows(IllegalArgumentException.class,
                    () -> LoraBinding.bind(n, LoraNetwork.Family.UNKNOWN, shapes(Fixtures.SD15)));
            assertTrue(s.getMessage().contains("proj_in"), s.getMessage());
            // on its own model it binds completely
            LoraBinding ok = LoraBinding.bind(n, LoraNetwork.Family.SD2, shapes(Fixtures.SD21));
            assertEquals(144, ok.targets().size());
            assertTrue(ok.unmatchedKeys().isEmpty());
        }
    }

    @Test
    void a1111HashesOfEveryFile() throws Exception {
        JsonNode files = cases().get("lora_files");
        for (var it = files.fields(); it.hasNext(); ) {
            var e = it.next();
            if (!e.getValue().has("a1111_hash")) {
                continue;
            }
            try (NDManager m = NDManager.newBaseManager(); LoraNetwork n = LoraNetwork.read(lora(e.getKey()), m)) {
                assertEquals(e.getValue().get("a1111_hash").asText(), n.hash(), e.getKey());
            }
        }
    }

    @Test
    void aFileThatIsNoLoraIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> {
            try (NDManager m = NDManager.newBaseManager()) {
                LoraNetwork.read(Fixtures.dir(Fixtures.SD15).resolve("vae/diffusion_pytorch_model.safetensors"), m);
            }
        });
        assertTrue(e.getMessage().contains("is not a LoRA file"), e.getMessage());
    }

    static Map<String, NDArray> prefixed(NDManager m, String prefix, Path file) throws Exception {
        Map<String, NDArray> out = new LinkedHashMap<>();
        SafeTensors.read(file, m).forEach((k, v) -> out.put(prefix + "." + k, v));
        return out;
    }
}
