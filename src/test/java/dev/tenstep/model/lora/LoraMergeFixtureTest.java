package dev.tenstep.model.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.model.clip.ClipTextModel;
import dev.tenstep.model.nn.Patchable;
import dev.tenstep.model.unet.UNet2DConditionModel;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import dev.tenstep.testing.LoraFixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link LoraMerge} on the tiny pipelines' text encoders and UNets against {@code fixtures/lora}: the merged weights,
 * text-encoder and UNet outputs of every case, for every file the references apply to (kohya F32 and F16, PEFT,
 * the file with an unknown module); restoring gives the base numbers bit for bit; multiplier 0 changes nothing.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LoraMergeFixtureTest {
    private NDManager manager;
    private final Map<String, ClipTextModel> textEncoders = new java.util.HashMap<>();
    private final Map<String, UNet2DConditionModel> unets = new java.util.HashMap<>();

    @BeforeAll
    void load() {
        manager = NDManager.newBaseManager();
        for (String f : List.of(Fixtures.SD15, Fixtures.SD21)) {
            textEncoders.put(f, ClipTextModel.load(Fixtures.dir(f).resolve("text_encoder"), manager));
            unets.put(f, UNet2DConditionModel.load(Fixtures.dir(f).resolve("unet"), manager));
        }
    }

    @AfterAll
    void close() {
        unets.values().forEach(UNet2DConditionModel::close);
        manager.close();
    }

    private Map<LoraNetwork.Component, Map<String, Patchable>> layers(String fixture) {
        Map<LoraNetwork.Component, Map<String, Patchable>> l = new EnumMap<>(LoraNetwork.Component.class);
        l.put(LoraNetwork.Component.TEXT_ENCODER, textEncoders.get(fixture).layers());
        l.put(LoraNetwork.Component.UNET, unets.get(fixture).layers());
        return l;
    }

    private static String fixtureOf(String set) {
        return set.startsWith("tiny-sd21") ? Fixtures.SD21 : Fixtures.SD15;
    }

    private static LoraNetwork.Family familyOf(String fixture) {
        return fixture.equals(Fixtures.SD21) ? LoraNetwork.Family.SD2 : LoraNetwork.Family.SD1;
    }

    /** Reads a LoRA file, binds it to the fixture model and merges it at (te, unet). */
    private LoraMerge merge(NDManager m, String file, String fixture, double te, double unet) throws Exception {
        try (LoraNetwork n = LoraNetwork.read(LoraFixtures.file(file), m)) {
            LoraBinding b = LoraBinding.bind(n, familyOf(fixture), LoraBinding.shapes(layers(fixture)));
            // the factors may be closed once merged: the merge keeps only its own weights
            return LoraMerge.apply(List.of(new LoraMerge.Item(b, te, unet)), layers(fixture), manager);
        }
    }

    @Test
    void theModelsListTheirLayersByWeightName() {
        // 18 text-encoder linears; 159 linear/1x1 and 38 3x3 UNet modules are a subset of the UNet's layers
        assertEquals(18, textEncoders.get(Fixtures.SD15).layers().size());
        assertTrue(unets.get(Fixtures.SD15).layers().size() >= 197, "UNet layers " + unets.get(Fixtures.SD15).layers().size());
        assertTrue(unets.get(Fixtures.SD15).layers().containsKey("down_blocks.1.resnets.0.conv1.weight"));
    }

    @Test
    void mergedWeightsOfEveryFileMatchAndRestoreBitForBit() throws Exception {
        for (String set : List.of("tiny-sd15-kohya", "tiny-sd21-kohya")) {
            String caseId = set + ".merged_weights";
            String fixture = fixtureOf(set);
            Map<String, Patchable> te = textEncoders.get(fixture).layers();
            Map<String, Patchable> unet = unets.get(fixture).layers();
            try (NDManager m = manager.newSubManager()) {
                Map<String, NDArray> ref = SafeTensors.read(LoraFixtures.reference(caseId), m);
                Map<String, NDArray> baseFile = new java.util.HashMap<>();
                SafeTensors.read(Fixtures.dir(fixture).resolve("unet/diffusion_pytorch_model.safetensors"), m)
                        .forEach((k, v) -> baseFile.put("unet." + k, v));
                SafeTensors.read(Fixtures.dir(fixture).resolve("text_encoder/model.safetensors"), m)
                        .forEach((k, v) -> baseFile.put("text_encoder." + k, v));
                for (String file : LoraFixtures.filesGivingTheSameResult(caseId)) {
                    int checked = 0;
                    try (LoraMerge merge = merge(m, file, fixture, 0.8, 0.8)) {
                        assertEquals(set.equals("tiny-sd15-kohya") ? 215 : 144, merge.patchedLayers(), file);
                        for (String key : ref.keySet()) {
                            if (!key.startsWith("merged.")) {
                                continue;
                            }
                            String name = key.substring("merged.".length());
                            Patchable layer = name.startsWith("unet.") ? unet.get(name.substring(5))
                                    : te.get(name.substring("text_encoder.".length()));
                            Allclose.assertClose(file + " " + key, ref.get(key), layer.currentWeight(),
                                    LoraFixtures.tolerance(caseId, key));
                            checked++;
                        }
                    }
                    assertEquals(set.equals("tiny-sd15-kohya") ? 15 : 10, checked, file + ": reference modules");
                    // restored: every layer computes with its base weight, the file's numbers exactly
                    for (Map.Entry<String, Patchable> e : unet.entrySet()) {
                        assertSame(e.getValue().baseWeight(), e.getValue().currentWeight(), e.getKey());
                    }
                    for (Map.Entry<String, Patchable> e : te.entrySet()) {
                        assertSame(e.getValue().baseWeight(), e.getValue().currentWeight(), e.getKey());
                        assertArrayEquals(baseFile.get("text_encoder." + e.getKey()).toFloatArray(),
                                e.getValue().currentWeight().toFloatArray(), e.getKey());
                    }
                }
            }
        }
    }

    @Test
    void textEncoderOutputsAtEachMultiplier() throws Exception {
        for (String set : List.of("tiny-sd15-kohya", "tiny-sd21-kohya")) {
            String caseId = set + ".text_encoder";
            String fixture = fixtureOf(set);
            ClipTextModel te = textEncoders.get(fixture);
            try (NDManager m = manager.newSubManager()) {
                Map<String, NDArray> ref = SafeTensors.read(LoraFixtures.reference(caseId), m);
                NDArray ids = ref.get("input_ids");
                float[] base = te.forward(ids).toFloatArray();
                int runs = 0;
                for (String file : LoraFixtures.filesGivingTheSameResult(caseId)) {
                    for (String key : ref.keySet()) {
                        if (!key.startsWith("last_hidden_state.te_")) {
                            continue;
                        }
                        double mult = Double.parseDouble(key.substring("last_hidden_state.te_".length()).replace('_', '.'));
                        // the UNet multiplier 0 leaves the UNet alone: only the text encoder's layers are patched
                        try (LoraMerge merge = merge(m, file, fixture, mult, 0)) {
                            assertEquals(set.equals("tiny-sd15-kohya") ? 18 : 12, merge.patchedLayers());
                            Allclose.assertClose(file + " " + key, ref.get(key), te.forward(ids),
                                    LoraFixtures.tolerance(caseId, key));
                        }
                        runs++;
                    }
                }
                assertTrue(runs >= 1);
                assertArrayEquals(base, te.forward(ids).toFloatArray(), "restored text encoder: base numbers bit for bit");
            }
        }
    }

    @Test
    void unetOutputsAtEachMultiplierAndTimestep() throws Exception {
        for (String set : List.of("tiny-sd15-kohya", "tiny-sd21-kohya")) {
            String caseId = set + ".unet";
            String fixture = fixtureOf(set);
            UNet2DConditionModel unet = unets.get(fixture);
            try (NDManager m = manager.newSubManager()) {
                Map<String, NDArray> ref = SafeTensors.read(LoraFixtures.reference(caseId), m);
                NDArray latents = ref.get("latents");
                NDArray ctx = ref.get("encoder_hidden_states");
                float[] base = unet.forward(latents, 500f, ctx).toFloatArray();
                int checked = 0;
                for (String file : LoraFixtures.filesGivingTheSameResult(caseId)) {
                    for (String key : ref.keySet()) {
                        if (!key.startsWith("out_unet_")) {
                            continue;
                        }
                        // out_unet_<m>_t<t>, m written as 0_8 or 1
                        String rest = key.substring("out_unet_".length());
                        int t = Integer.parseInt(rest.substring(rest.lastIndexOf("_t") + 2));
                        double mult = Double.parseDouble(rest.substring(0, rest.lastIndexOf("_t")).replace('_', '.'));
                        try (LoraMerge merge = merge(m, file, fixture, 0, mult)) {
                            NDArray out = unet.forward(latents, t, ctx);
                            Allclose.assertClose(file + " " + key, ref.get(key), out, LoraFixtures.tolerance(caseId, key));
                            NDArray u = out.get(new NDIndex("0:1"));
                            NDArray guided = u.add(out.get(new NDIndex("1:2")).sub(u).mul(7.5f));
                            String g = "guided_unet_" + rest;
                            Allclose.assertClose(file + " " + g, ref.get(g), guided, LoraFixtures.tolerance(caseId, g));
                            checked++;
                        }
                    }
                }
                assertTrue(checked >= 1);
                assertArrayEquals(base, unet.forward(latents, 500f, ctx).toFloatArray(), "restored UNet: base numbers bit for bit");
            }
        }
    }

    @Test
    void multiplierZeroPatchesNothingAndGivesTheBaseNumbersExactly() throws Exception {
        UNet2DConditionModel unet = unets.get(Fixtures.SD15);
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> ref = SafeTensors.read(LoraFixtures.reference("tiny-sd15-kohya.unet"), m);
            float[] base = unet.forward(ref.get("latents"), 999f, ref.get("encoder_hidden_states")).toFloatArray();
            try (LoraMerge merge = merge(m, "tiny-sd15-kohya.safetensors", Fixtures.SD15, 0, 0)) {
                assertEquals(0, merge.patchedLayers());
                assertEquals(0, merge.patchBytes());
                assertArrayEquals(base, unet.forward(ref.get("latents"), 999f, ref.get("encoder_hidden_states")).toFloatArray());
            }
        }
    }

    @Test
    void severalLorasAddUpAndNegativeMultipliersSubtract() throws Exception {
        String caseId = "tiny-sd15-kohya.merged_weights";
        Map<String, Patchable> unet = unets.get(Fixtures.SD15).layers();
        String name = "down_blocks.1.resnets.0.conv1.weight";
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> ref = SafeTensors.read(LoraFixtures.reference(caseId), m);
            NDArray delta = ref.get("delta.unet." + name);
            NDArray base = unet.get(name).baseWeight();
            List<LoraMerge.Item> items = new ArrayList<>();
            List<LoraNetwork> nets = new ArrayList<>();
            try {
                // the kohya file at 0.5 and the PEFT file (same deltas) at 0.3: 0.8 in all
                for (String[] f : new String[][] {{"tiny-sd15-kohya.safetensors", "0.5"}, {"tiny-sd15-peft.safetensors", "0.3"}}) {
                    LoraNetwork n = LoraNetwork.read(LoraFixtures.file(f[0]), m);
                    nets.add(n);
                    double x = Double.parseDouble(f[1]);
                    items.add(new LoraMerge.Item(LoraBinding.bind(n, LoraNetwork.Family.SD1,
                            LoraBinding.shapes(layers(Fixtures.SD15))), x, x));
                }
                try (LoraMerge merge = LoraMerge.apply(items, layers(Fixtures.SD15), manager)) {
                    assertEquals(215, merge.patchedLayers(), "both LoRAs change the same layers");
                    Allclose.assertClose("0.5 + 0.3 " + name, ref.get("merged.unet." + name), unet.get(name).currentWeight(),
                            LoraFixtures.tolerance(caseId, "merged.unet." + name));
                }
                try (LoraMerge merge = LoraMerge.apply(List.of(new LoraMerge.Item(items.get(0).binding(), -0.8, -0.8)),
                        layers(Fixtures.SD15), manager)) {
                    Allclose.assertClose("-0.8 " + name, base.sub(delta.mul(0.8f)), unet.get(name).currentWeight(),
                            LoraFixtures.tolerance(caseId, "merged.unet." + name));
                }
            } finally {
                nets.forEach(LoraNetwork::close);
            }
        }
    }

    @Test
    void aSecondMergeOverAnAppliedOneIsRefused() throws Exception {
        try (NDManager m = manager.newSubManager(); LoraMerge first = merge(m, "tiny-sd15-kohya.safetensors", Fixtures.SD15, 1, 1)) {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> merge(m, "tiny-sd15-kohya.safetensors", Fixtures.SD15, 1, 1));
            assertTrue(e.getMessage().contains("already patched"), e.getMessage());
            assertFalse(first.patchedLayers() == 0);
        }
        // the refused merge left nothing behind, and the first one restored everything
        unets.get(Fixtures.SD15).layers().values().forEach(l -> assertSame(l.baseWeight(), l.currentWeight()));
    }
}
