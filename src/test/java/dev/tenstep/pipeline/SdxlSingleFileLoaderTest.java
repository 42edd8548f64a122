package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.io.TensorFile;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.model.singlefile.SingleFileCheckpoint;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SDXL single files into the SDXL pipeline: the tiny SGM-layout file, loaded with the tiny-sdxl folder's configs
 * ({@code --config}), is an SDXL pipeline with the folder's options, on half-precision compute its VAE stays fp32.
 * Without configs the tiny file asks for them; the configs of another family and a refiner file are refused by name.
 * Every tiny-sdxl case from both files (F32 and F16): {@link SdxlSingleFileFixtureTest}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SdxlSingleFileLoaderTest {
    static final String FX = Fixtures.SDXL;
    static final String PROMPT = "a photo of an astronaut riding a horse on mars";

    private StableDiffusionPipeline single;
    private StableDiffusionPipeline folder;
    private NDManager manager;

    private static Path file(String name) {
        Path f = Fixtures.root().resolve("single-file").resolve(name);
        assertTrue(Files.isRegularFile(f), "missing fixture " + f);
        return f;
    }

    private static SingleFileLoader.Options withFolderConfigs() {
        return new SingleFileLoader.Options(Fixtures.dir(FX), null, false, null);
    }

    @BeforeAll
    void load() {
        manager = NDManager.newBaseManager();
        single = SingleFileLoader.load(file("tiny-sdxl.safetensors"), withFolderConfigs());
        folder = StableDiffusionPipeline.load(Fixtures.dir(FX));
    }

    @AfterAll
    void close() {
        single.close();
        folder.close();
        manager.close();
    }

    /** The request of the pipeline cases: the pipeline prompt, no negative prompt, 10 steps, CFG 7.5, the default size. */
    private static GenerationResult run(StableDiffusionPipeline p, SamplerKind sampler, NDArray initial) {
        GenerationRequest req = new GenerationRequest(PROMPT, "", 10, 7.5, 0, sampler, null, null, null, null);
        return p.generate(p.resolve(req), null, new TextToImage.Options(initial.toFloatArray(), true, TextToImage.Listener.NONE));
    }

    private static NDArray latents(NDManager m, GenerationResult g) {
        return m.create(g.finalLatents(), new Shape(g.latentShape()));
    }

    @Test
    void withoutConfigTheTinyFileAsksForIt() {
        ModelLoadException e = assertThrows(ModelLoadException.class,
                () -> SingleFileLoader.load(file("tiny-sdxl.safetensors"), SingleFileLoader.Options.DEFAULT));
        assertTrue(e.needsConfig(), e.getMessage());
        assertTrue(e.getMessage().contains("text_encoder_2/"), e.getMessage());
    }

    @Test
    void theConfigsOfAnotherFamilyAreRefusedByName() {
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> SingleFileLoader.load(file("tiny-sdxl.safetensors"),
                new SingleFileLoader.Options(Fixtures.dir(Fixtures.SD15), null, false, null)));
        assertTrue(e.getMessage().contains("an SDXL checkpoint, but the config folder") && e.getMessage().contains(
                "is a StableDiffusionPipeline (model_index.json): pass the configs of an SDXL model"), e.getMessage());
    }

    @Test
    void withTheFolderConfigsItResolvesToTheFourComponents() {
        try (SingleFileCheckpoint c = SingleFileCheckpoint.open(file("tiny-sdxl.safetensors"))) {
            Path configDir = SingleFileLoader.configDir(c, withFolderConfigs());
            assertEquals(Fixtures.dir(FX), configDir);
            Map<String, TensorFile> views = c.components(configDir, false);
            assertEquals(List.of("text_encoder", "text_encoder_2", "unet", "vae"), List.copyOf(views.keySet()));
            assertTrue(views.get("text_encoder_2").tensors().containsKey("text_projection.weight"));
            assertTrue(views.get("unet").tensors().containsKey("add_embedding.linear_1.weight"));
            assertFalse(views.get("unet").tensors().keySet().stream().anyMatch(k -> k.startsWith("model.diffusion_model.")));
        }
    }

    @Test
    void loadsAsAnSdxlPipelineWithTheFolderOptions() {
        assertTrue(single.isXl());
        assertEquals(dev.tenstep.model.lora.LoraNetwork.Family.SDXL, single.family());
        assertTrue(single.zeroEmptyNegative(), "model_index.json force_zeros_for_empty_prompt of the config folder");
        assertEquals("tiny-sdxl", single.name(), "A1111's model name: the file name without extension");
        assertEquals(folder.defaultSize(), single.defaultSize());
        assertEquals(folder.sizeMultiple(), single.sizeMultiple());
    }

    /**
     * On a half-precision compute spec (fp16 everywhere asked; run on the CPU, which the tiny fixture affords) the
     * file's weights are created in fp16 and its VAE stays fp32, as its config's {@code force_upcast} says (the folder
     * path's rule); the default GE run lands within the half-precision tolerance of the folder path
     * ({@link HalfPrecisionTest#FP16_TOLERANCE_SCALE} x the fixture's).
     */
    @Test
    void onHalfPrecisionTheVaeIsUpcastAndTheRunAgrees() throws Exception {
        ComputeSpec half = new ComputeSpec(ai.djl.Device.cpu(), ComputeSpec.Precision.FP16, ComputeSpec.Precision.FP16);
        try (StableDiffusionPipeline p = SingleFileLoader.load(file("tiny-sdxl.safetensors"), withFolderConfigs(), half);
             NDManager m = manager.newSubManager()) {
            assertEquals(ComputeSpec.Precision.FP16, p.compute().dtype());
            assertEquals(ComputeSpec.Precision.FP32, p.compute().vaeDtype(), "force_upcast");
            NDArray initial = SafeTensors.read(Fixtures.reference(FX, "pipeline_euler.safetensors"), m).get("initial_latents");
            NDArray z = latents(m, run(p, null, initial));
            Fixtures.Tolerance t = Fixtures.tolerance(FX, "sigma_sampler", "f_loglinear_g2.final_latents");
            double dev = Allclose.assertClose("single-file sdxl fp16 GE final_latents",
                    SafeTensors.read(Fixtures.reference(FX, "sigma_sampler.safetensors"), m).get("f_loglinear_g2.final_latents"),
                    z, HalfPrecisionTest.FP16_TOLERANCE_SCALE * t.atol(), HalfPrecisionTest.FP16_TOLERANCE_SCALE * t.rtol());
            assertTrue(dev > 0, "fp16 computed exactly like fp32?");
        }
    }

    /**
     * {@code --vae} with an SDXL file, as SDXL users keep the fp16-fix VAE beside their checkpoints: a VAE single file
     * in the SGM/A1111 layout (names without {@code first_stage_model.}; here the fp16-rounded VAE of the F16 fixture), a
     * diffusers {@code vae/} folder, and a diffusers-layout weight file alone ({@code diffusion_pytorch_model.safetensors},
     * with the checkpoint's VAE config) each replace the checkpoint's VAE, and the infotext names the file as A1111 does.
     * A VAE folder of another family (tiny-sd15's: scaling factor 0.18215) is refused naming both scaling factors, a full
     * checkpoint as a VAE naming what it is.
     */
    @Test
    void aSeparateVaeReplacesTheCheckpoints(@TempDir Path tmp) throws Exception {
        Path ldm = tmp.resolve("tiny-sdxl.vae.safetensors");
        try (NDManager m = manager.newSubManager(); SafeTensors st = SafeTensors.open(file("tiny-sdxl-fp16.safetensors"))) {
            Map<String, NDArray> vae = new LinkedHashMap<>();
            for (String k : st.tensors().keySet()) {
                if (k.startsWith("first_stage_model.")) {
                    vae.put(k.substring("first_stage_model.".length()), st.load(m, k, ai.djl.ndarray.types.DataType.FLOAT16));
                }
            }
            assertEquals(ai.djl.ndarray.types.DataType.FLOAT16, vae.get("decoder.conv_in.weight").getDataType());
            SafeTensors.write(ldm, vae, Map.of("format", "pt"));
        }
        Path diffusers = Files.copy(Fixtures.dir(FX).resolve("vae/diffusion_pytorch_model.safetensors"),
                tmp.resolve("diffusion_pytorch_model.safetensors"));
        try (NDManager m = manager.newSubManager();
             StableDiffusionPipeline withFile = SingleFileLoader.load(file("tiny-sdxl.safetensors"), withVae(ldm));
             StableDiffusionPipeline withFolder = SingleFileLoader.load(file("tiny-sdxl.safetensors"),
                     withVae(Fixtures.dir(FX).resolve("vae")));
             StableDiffusionPipeline withDiffusersFile = SingleFileLoader.load(file("tiny-sdxl.safetensors"), withVae(diffusers))) {
            Map<String, NDArray> r = SafeTensors.read(Fixtures.reference(FX, "vae.safetensors"), m);
            NDArray z = r.get("decode_latents");
            NDArray own = single.decodeLatents(z);
            Allclose.assertClose("sdxl --vae folder", own, withFolder.decodeLatents(z), 0, 0);
            Allclose.assertClose("sdxl --vae diffusers file", own, withDiffusersFile.decodeLatents(z), 0, 0);
            // the fp16-rounded VAE: the reference within the fp16 file's bound, and not the checkpoint's own VAE
            NDArray expected = r.get("decode_image");
            double moved = Allclose.assertClose("sdxl --vae fp16 file", expected, withFile.decodeLatents(z),
                    0.002 * expected.abs().max().getFloat(), 0.002);
            assertTrue(moved > 0, "the override must really replace the VAE");
            assertEquals(0.13025, withFile.vae().config().scalingFactor(), "the checkpoint's VAE config");

            GenerationRequest req = new GenerationRequest(PROMPT, "", 2, 7.5, 5, SamplerKind.DDIM, null, null, null, null);
            String hash = dev.tenstep.io.Hashes.sha256(Files.readAllBytes(ldm)).substring(0, 10);
            String info = withFile.generate(req).infotext();
            assertTrue(info.contains(", Model: tiny-sdxl, VAE hash: " + hash + ", VAE: tiny-sdxl.vae.safetensors"), info);
        }
        Path sd15Vae = Fixtures.dir(Fixtures.SD15).resolve("vae");
        ModelLoadException e = assertThrows(ModelLoadException.class,
                () -> SingleFileLoader.load(file("tiny-sdxl.safetensors"), withVae(sd15Vae)));
        assertTrue(e.getMessage().contains("its config's scaling_factor 0.18215 is not the model's 0.13025")
                && e.getMessage().contains("a VAE of another model family"), e.getMessage());
        ModelLoadException notVae = assertThrows(ModelLoadException.class,
                () -> SingleFileLoader.load(file("tiny-sdxl.safetensors"), withVae(file("tiny-sdxl-fp16.safetensors"))));
        assertTrue(notVae.getMessage().contains("not a VAE file"), notVae.getMessage());
    }

    private static SingleFileLoader.Options withVae(Path vae) {
        return new SingleFileLoader.Options(Fixtures.dir(FX), vae, false, null);
    }

    /**
     * A refiner file (its only text encoder OpenCLIP under {@code conditioner.embedders.0.model.}) stays refused by name at
     * load, configs or not: made here from the tiny file's own tensors, the second embedder renamed to the first slot.
     */
    @Test
    void aRefinerFileIsRefusedByName(@TempDir Path tmp) throws Exception {
        Path refiner = tmp.resolve("tiny-sdxl-refiner.safetensors");
        try (NDManager m = manager.newSubManager(); SafeTensors st = SafeTensors.open(file("tiny-sdxl.safetensors"))) {
            Map<String, NDArray> t = new LinkedHashMap<>();
            for (String k : st.tensors().keySet()) {
                if (k.startsWith(SingleFileCheckpoint.SDXL_OPEN_CLIP_PREFIX)) {
                    t.put(k.replace("conditioner.embedders.1.", "conditioner.embedders.0."), st.load(m, k));
                } else if (k.startsWith("model.diffusion_model.label_emb.") || k.startsWith("first_stage_model.encoder.conv_in")) {
                    t.put(k, st.load(m, k));
                }
            }
            SafeTensors.write(refiner, t, Map.of("format", "pt"));
        }
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> SingleFileLoader.load(refiner, withFolderConfigs()));
        assertTrue(e.getMessage().contains("an SDXL refiner checkpoint") && e.getMessage().contains("Refiner models are not "
                + "supported"), e.getMessage());
    }
}
