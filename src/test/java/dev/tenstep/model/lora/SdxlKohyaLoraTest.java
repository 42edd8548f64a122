package dev.tenstep.model.lora;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.model.clip.ClipTextModel;
import dev.tenstep.model.nn.Patchable;
import dev.tenstep.model.singlefile.UNetLayout;
import dev.tenstep.model.unet.UNet2DConditionModel;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import dev.tenstep.testing.LoraFixtures;
import dev.tenstep.testing.SdxlKohyaLora;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * kohya SDXL LoRAs (UNet modules in the original SGM layout, {@code lora_te1_} / {@code lora_te2_}) on the tiny SDXL
 * model: a file written by {@link SdxlKohyaLora} with modules in the input, middle and output blocks, the time and
 * added embeddings and both text encoders binds each module to its diffusers weight through the UNet layout, merges
 * to {@code W + m (alpha / rank) up @ down} and leaves every other weight as it was; LoRAs of the other family are
 * refused naming both.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SdxlKohyaLoraTest {
    private static final double TE = 0.6;
    private static final double UNET = 1.25;
    private NDManager manager;
    private ClipTextModel te1;
    private ClipTextModel te2;
    private UNet2DConditionModel unet;
    private UNetLayout layout;
    private Path file;
    private SdxlKohyaLora.Written written;

    @BeforeAll
    void load(@TempDir Path tmp) throws Exception {
        manager = NDManager.newBaseManager();
        Path dir = Fixtures.dir(Fixtures.SDXL);
        te1 = ClipTextModel.load(dir.resolve("text_encoder"), manager);
        te2 = ClipTextModel.load(dir.resolve("text_encoder_2"), manager);
        unet = UNet2DConditionModel.load(dir.resolve("unet"), manager);
        layout = UNetLayout.read(dir.resolve("unet/config.json"));
        file = tmp.resolve("tiny-sdxl-kohya.safetensors");
        try (NDManager m = manager.newSubManager()) {
            written = SdxlKohyaLora.write(file, layout, te1.config().numHiddenLayers(), te2.config().numHiddenLayers(),
                    LoraBinding.shapes(layers()), 20251208L, m);
        }
    }

    @AfterAll
    void close() {
        unet.close();
        manager.close();
    }

    private Map<LoraNetwork.Component, Map<String, Patchable>> layers() {
        Map<LoraNetwork.Component, Map<String, Patchable>> l = new EnumMap<>(LoraNetwork.Component.class);
        l.put(LoraNetwork.Component.TEXT_ENCODER, te1.layers());
        l.put(LoraNetwork.Component.TEXT_ENCODER_2, te2.layers());
        l.put(LoraNetwork.Component.UNET, unet.layers());
        return l;
    }

    @Test
    void theLayoutOfTheLoadedConfigIsTheConfigFilesLayout() {
        UNetLayout of = UNetLayout.of(unet.config());
        assertEquals(layout.layersPerBlock(), of.layersPerBlock());
        assertEquals(layout.downAttention(), of.downAttention());
        assertEquals(layout.upAttention(), of.upAttention());
        assertArrayEquals(layout.depth(), of.depth());
        assertArrayEquals(layout.blockOutChannels(), of.blockOutChannels());
        assertEquals(layout.crossAttentionDim(), of.crossAttentionDim());
        assertEquals(layout.timeEmbedDim(), of.timeEmbedDim());
        assertEquals(layout.addEmbedInputDim(), of.addEmbedInputDim());
        assertEquals(layout.inChannels(), of.inChannels());
        assertEquals(layout.outChannels(), of.outChannels());
    }

    @Test
    void everyModuleBindsToItsDiffusersWeightAndTheUnknownOneIsReported() throws Exception {
        try (NDManager m = manager.newSubManager(); LoraNetwork n = LoraNetwork.read(file, m)) {
            assertEquals(LoraNetwork.Layout.KOHYA, n.layout());
            assertEquals(LoraNetwork.Family.SDXL, n.family());
            LoraBinding b = LoraBinding.bind(n, LoraNetwork.Family.SDXL, LoraBinding.shapes(layers()), UNetLayout.of(unet.config()));
            assertEquals(written.unknownKeys(), b.unmatchedKeys());
            assertEquals(written.modules().size(), b.targets().size());
            for (SdxlKohyaLora.Module mo : written.modules()) {
                String name = mo.stem().substring(mo.stem().indexOf('_', "lora_".length()) + 1);
                List<LoraBinding.Target> t = b.targets().stream()
                        .filter(x -> x.module().component() == mo.component() && x.module().name().equals(name)).toList();
                assertEquals(1, t.size(), mo.stem() + " binds once");
                assertEquals(mo.weightName(), t.get(0).weightName(), mo.stem());
            }
        }
    }

    @Test
    void withoutTheLayoutTheSgmUnetNamesMatchNothing() throws Exception {
        // what the binding did before SGM names were read: the text-encoder modules bind, no UNet module does
        try (NDManager m = manager.newSubManager(); LoraNetwork n = LoraNetwork.read(file, m)) {
            LoraBinding b = LoraBinding.bind(n, LoraNetwork.Family.SDXL, LoraBinding.shapes(layers()));
            assertTrue(b.targets().stream().noneMatch(t -> t.module().component() == LoraNetwork.Component.UNET));
            assertEquals(written.modules().stream().filter(x -> x.component() != LoraNetwork.Component.UNET).count(),
                    b.targets().size());
            assertTrue(b.unmatchedKeys().containsAll(written.unknownKeys()));
            assertTrue(b.unmatchedKeys().stream().allMatch(k -> k.startsWith("lora_unet_")), b.unmatchedKeys().toString());
        }
    }

    @Test
    void mergedWeightsAreTheBasePlusTheScaledProductAndNothingElseChanges() throws Exception {
        Map<LoraNetwork.Component, Map<String, Patchable>> layers = layers();
        try (NDManager m = manager.newSubManager(); LoraNetwork n = LoraNetwork.read(file, m)) {
            LoraBinding b = LoraBinding.bind(n, LoraNetwork.Family.SDXL, LoraBinding.shapes(layers), UNetLayout.of(unet.config()));
            try (LoraMerge merge = LoraMerge.apply(List.of(new LoraMerge.Item(b, TE, UNET)), layers, manager)) {
                assertEquals(written.modules().size(), merge.patchedLayers());
                Set<Patchable> targets = new HashSet<>();
                for (SdxlKohyaLora.Module mo : written.modules()) {
                    Patchable layer = layers.get(mo.component()).get(mo.weightName());
                    targets.add(layer);
                    double multiplier = mo.component() == LoraNetwork.Component.UNET ? UNET : TE;
                    double[] expected = SdxlKohyaLora.expectedMerged(mo, layer.baseWeight().toFloatArray(), multiplier);
                    double maxAbs = 0;
                    for (double e : expected) {
                        maxAbs = Math.max(maxAbs, Math.abs(e));
                    }
                    Allclose.assertClose(mo.stem(), m.create(expected, new Shape(mo.weight())), layer.currentWeight(),
                            1e-4 * Math.max(1, maxAbs), 1e-4);
                }
                layers.forEach((c, byName) -> byName.forEach((name, layer) -> {
                    if (!targets.contains(layer)) {
                        assertSame(layer.baseWeight(), layer.currentWeight(), c.prefix() + "." + name + " is unchanged");
                    }
                }));
            }
            layers.forEach((c, byName) -> byName.forEach((name, layer) ->
                    assertSame(layer.baseWeight(), layer.currentWeight(), c.prefix() + "." + name + " is restored")));
        }
    }

    @Test
    void lorasOfTheOtherFamilyAreRefusedNamingBoth() throws Exception {
        try (NDManager m = manager.newSubManager();
             LoraNetwork sd15 = LoraNetwork.read(LoraFixtures.file("tiny-sd15-kohya.safetensors"), m);
             LoraNetwork sdxl = LoraNetwork.read(file, m)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LoraBinding.bind(sd15,
                    LoraNetwork.Family.SDXL, LoraBinding.shapes(layers()), UNetLayout.of(unet.config())));
            assertTrue(e.getMessage().contains("is for SD 1.x") && e.getMessage().contains("the model is SDXL"), e.getMessage());
            Path sd15Dir = Fixtures.dir(Fixtures.SD15);
            e = assertThrows(IllegalArgumentException.class, () -> LoraBinding.bind(sdxl, LoraNetwork.Family.SD1,
                    LoraNetworkFixtureTest.shapes(Fixtures.SD15), UNetLayout.read(sd15Dir.resolve("unet/config.json"))));
            assertTrue(e.getMessage().contains("is for SDXL") && e.getMessage().contains("the model is SD 1.x"), e.getMessage());
        }
    }
}
