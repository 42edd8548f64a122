package dev.tenstep.pipeline;

import ai.djl.ndarray.NDManager;
import dev.tenstep.model.lora.LoraBinding;
import dev.tenstep.model.lora.LoraNetwork;
import dev.tenstep.model.nn.Patchable;
import dev.tenstep.model.singlefile.UNetLayout;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.testing.Fixtures;
import dev.tenstep.testing.SdxlKohyaLora;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A kohya SDXL LoRA (written by {@link SdxlKohyaLora}: SGM UNet names, {@code lora_te1_} / {@code lora_te2_}) through
 * the tiny SDXL pipeline's own API: {@code <lora:NAME:0>} gives the same final latents and image as no tag, bit for
 * bit; {@code <lora:NAME:1>} merges every module of the file (UNet ones included) and changes the result; the
 * module that names no layer is reported in the warnings.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SdxlLoraPipelineTest {
    static final String PROMPT = "a photo of an astronaut riding a horse on mars";
    static final String NAME = "tiny-sdxl-kohya";
    private StableDiffusionPipeline pipeline;
    private SdxlKohyaLora.Written written;

    @BeforeAll
    void load(@TempDir Path tmp) throws Exception {
        Path dir = Fixtures.dir(Fixtures.SDXL);
        pipeline = StableDiffusionPipeline.load(dir);
        Map<LoraNetwork.Component, Map<String, Patchable>> layers = new EnumMap<>(LoraNetwork.Component.class);
        layers.put(LoraNetwork.Component.TEXT_ENCODER, pipeline.textEncoder().layers());
        layers.put(LoraNetwork.Component.TEXT_ENCODER_2, pipeline.textEncoder2().layers());
        layers.put(LoraNetwork.Component.UNET, pipeline.unet().layers());
        Path loras = Files.createDirectories(tmp.resolve("Lora"));
        try (NDManager m = NDManager.newBaseManager()) {
            written = SdxlKohyaLora.write(loras.resolve(NAME + ".safetensors"), UNetLayout.read(dir.resolve("unet/config.json")),
                    pipeline.textEncoder().config().numHiddenLayers(), pipeline.textEncoder2().config().numHiddenLayers(),
                    LoraBinding.shapes(layers), 7L, m);
        }
        pipeline.setLoraCatalog(new LoraCatalog(loras));
    }

    @AfterAll
    void close() {
        pipeline.close();
    }

    private GenerationResult run(String prompt) {
        ResolvedRequest r = pipeline.resolve(new GenerationRequest(prompt, "", 2, 7.5, 5, SamplerKind.DDIM, null, null, null, null));
        return pipeline.generate(r, null, TextToImage.Options.DEFAULT);
    }

    private static int[] pixels(GenerationResult g) {
        return g.image().getRGB(0, 0, g.image().getWidth(), g.image().getHeight(), null, 0, g.image().getWidth());
    }

    @Test
    void weightZeroGivesTheBaseResultAndWeightOneMergesEveryModule() {
        GenerationResult base = run(PROMPT);
        GenerationResult zero = run(PROMPT + " <lora:" + NAME + ":0>");
        assertArrayEquals(base.finalLatents(), zero.finalLatents(), "weight 0: the base model's latents, bit for bit");
        assertArrayEquals(pixels(base), pixels(zero), "weight 0: the base model's image");

        GenerationResult one = run(PROMPT + " <lora:" + NAME + ":1>");
        assertEquals(written.modules().size(), pipeline.loras().lastSwitch().layers(),
                "every module of the file is merged, the SGM-named UNet ones included");
        assertFalse(java.util.Arrays.equals(base.finalLatents(), one.finalLatents()), "weight 1 changes the result");
        List<String> w = one.warnings();
        assertTrue(w.stream().anyMatch(s -> s.contains(written.unknownKeys().get(0))), w.toString());
    }
}
