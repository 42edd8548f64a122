package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.sampling.CfgDenoiser;
import dev.tenstep.sampling.Sampler;
import dev.tenstep.sampling.ScheduleKind;
import dev.tenstep.sampling.SigmaSchedule;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Done-when of the single-file loader: the single-file fixtures, loaded with the folder fixtures'
 * configs, reproduce the folder fixtures' sampler references (GE on the log-linear schedule, DDIM),
 * and the fp16 file agrees with the fp32 one within a measured tolerance.
 */
class SingleFilePipelineTest {
    static Path singleFile(String name) {
        return Fixtures.root().resolve("single-file").resolve(name);
    }

    private static StableDiffusionPipeline load(String file, String fixture) {
        return SingleFileLoader.load(singleFile(file), new SingleFileLoader.Options(Fixtures.dir(fixture), null, false, null));
    }

    /** Runs a reference run of case 7 with the pipeline's networks and returns its final latents. */
    private static NDArray run(StableDiffusionPipeline p, String fixture, String runName, NDManager m) throws Exception {
        JsonNode spec = Fixtures.caseById(fixture, "sigma_sampler").get("runs").get(runName);
        Map<String, NDArray> inputs = SafeTensors.read(Fixtures.reference(fixture, "pipeline_ddim.safetensors"), m);
        // the prompt embedding comes from this pipeline's own text encoder, so the CLIP weights count too
        TextToImage.PromptEmbedding e = p.encodePrompt("a photo of an astronaut riding a horse on mars", "");
        NDArray ctx = m.create(e.data(), new ai.djl.ndarray.types.Shape(e.shape()));
        Allclose.assertClose(fixture + " " + runName + " prompt_embeds", inputs.get("prompt_embeds"), ctx,
                Fixtures.tolerance(fixture, "text_encoder", "last_hidden_state"));
        SigmaSchedule s = ScheduleKind.byName(spec.get("schedule").asText()).build(p.noiseSchedule(), 10);
        Sampler sampler = new Sampler(spec.get("gamma").asDouble(), spec.get("mu").asDouble());
        CfgDenoiser d = new CfgDenoiser(p.unet()::forward, ctx, 7.5, p.noiseSchedule());
        return sampler.sample(d, inputs.get("initial_latents"), s, null, null);
    }

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21})
    void singleFileReproducesTheFolderFixtureSamplerRuns(String fixture) throws Exception {
        try (StableDiffusionPipeline p = load(fixture + ".safetensors", fixture); NDManager m = NDManager.newBaseManager()) {
            assertEquals(fixture.equals(Fixtures.SD21), p.noiseSchedule().vPrediction());
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(fixture, "sigma_sampler.safetensors"), m);
            for (String run : new String[] {"f_loglinear_g2", "a_ddim_g1"}) {
                NDArray z = run(p, fixture, run, m);
                Allclose.assertClose(fixture + " single-file " + run + ".final_latents", ref.get(run + ".final_latents"), z,
                        Fixtures.tolerance(fixture, "sigma_sampler", run + ".final_latents"));
                if (run.equals("a_ddim_g1")) {
                    // gamma 1 on the ddim schedule is DDIM: diffusers' own DDIM pipeline reference too
                    Map<String, NDArray> ddim = SafeTensors.read(Fixtures.reference(fixture, "pipeline_ddim.safetensors"), m);
                    Allclose.assertClose(fixture + " single-file pipeline_ddim.final_latents", ddim.get("final_latents"), z,
                            Fixtures.tolerance(fixture, "pipeline_ddim", "final_latents"));
                }
                if (run.equals("f_loglinear_g2")) {
                    Allclose.assertClose(fixture + " single-file " + run + ".final_image", ref.get(run + ".final_image"),
                            p.decodeLatents(z), Fixtures.tolerance(fixture, "sigma_sampler", run + ".final_image"));
                }
            }
            assertEquals(SingleFileLoader.modelName(singleFile(fixture + ".safetensors")), p.name());
        }
    }

    /**
     * fp16 weights are the fp32 weights rounded to half precision (relative error <= 2^-11), so the
     * run differs from the fp32 reference by more than the fixture tolerance. Measured on tiny-sd15
     * (GE, log-linear, 10 steps; final latents max|z| 32.4): max|fp16 - fp32| = 0.011, i.e. 0.034%
     * of max|z|. The bound, 0.2% of max|z| + 0.2% relative, leaves about 6x margin (docs/models.md).
     * The fp32 single file equals the reference within 2e-5 (test above), so the reference stands
     * in for the fp32 run.
     */
    @Test
    void fp16FileAgreesWithTheFp32File() throws Exception {
        try (StableDiffusionPipeline p16 = load("tiny-sd15-fp16.safetensors", Fixtures.SD15);
             NDManager m = NDManager.newBaseManager()) {
            NDArray z32 = SafeTensors.read(Fixtures.reference(Fixtures.SD15, "sigma_sampler.safetensors"), m)
                    .get("f_loglinear_g2.final_latents");
            NDArray z16 = run16(p16, m);
            double scale = z32.abs().max().getFloat();
            double dev = Allclose.assertClose("tiny-sd15 fp16 vs fp32 GE final_latents", z32, z16, 0.002 * scale, 0.002);
            assertTrue(dev > 0, "the fp16 file must really hold rounded weights");
            System.out.printf("[fp16] max|latent| %.2f, max|fp16 - fp32| %.4f (%.4f%% of max)%n", scale, dev, 100 * dev / scale);
        }
    }

    /** As {@link #run} without the fp32 text-encoder check (the fp16 embedding differs by design). */
    private static NDArray run16(StableDiffusionPipeline p, NDManager m) throws Exception {
        JsonNode spec = Fixtures.caseById(Fixtures.SD15, "sigma_sampler").get("runs").get("f_loglinear_g2");
        Map<String, NDArray> inputs = SafeTensors.read(Fixtures.reference(Fixtures.SD15, "pipeline_ddim.safetensors"), m);
        TextToImage.PromptEmbedding e = p.encodePrompt("a photo of an astronaut riding a horse on mars", "");
        NDArray ctx = m.create(e.data(), new ai.djl.ndarray.types.Shape(e.shape()));
        SigmaSchedule s = ScheduleKind.byName(spec.get("schedule").asText()).build(p.noiseSchedule(), 10);
        CfgDenoiser d = new CfgDenoiser(p.unet()::forward, ctx, 7.5, p.noiseSchedule());
        return new Sampler(spec.get("gamma").asDouble(), spec.get("mu").asDouble()).sample(d, inputs.get("initial_latents"), s, null, null);
    }

    /**
     * A single file on a half-precision compute spec (the GPU default: fp16 text encoder and UNet, fp32
     * VAE; run on the CPU here, which the command line refuses but the tiny fixtures afford): the
     * weights are created in the spec's dtypes and the fixture's pipeline case passes within the
     * half-precision tolerance of the folder path ({@link HalfPrecisionTest}).
     */
    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21})
    void singleFileOnHalfPrecisionComputeMatchesTheFolderFixture(String fixture) throws Exception {
        ComputeSpec half = new ComputeSpec(ai.djl.Device.cpu(), ComputeSpec.Precision.FP16, ComputeSpec.Precision.FP32);
        try (StableDiffusionPipeline p = SingleFileLoader.load(singleFile(fixture + ".safetensors"),
                new SingleFileLoader.Options(Fixtures.dir(fixture), null, false, null), half)) {
            assertEquals(half, p.compute());
            java.util.List<FixtureParity.Comparison> c = FixtureParity.pipelineDdim(Fixtures.dir(fixture), p,
                    HalfPrecisionTest.FP16_TOLERANCE_SCALE);
            assertEquals(3, c.size());
            c.forEach(x -> assertTrue(x.passed(), fixture + " single file, fp16 " + x));
            c.forEach(x -> assertTrue(x.maxAbsError() > 0, fixture + " fp16 computed exactly like fp32? " + x));
        }
    }

    @Test
    void predictionTypeOverridesTheSchedulerConfig() {
        try (StableDiffusionPipeline p = SingleFileLoader.load(singleFile("tiny-sd15.safetensors"),
                new SingleFileLoader.Options(Fixtures.dir(Fixtures.SD15), null, false, "v_prediction"))) {
            assertTrue(p.noiseSchedule().vPrediction());
        }
    }

    @Test
    void vaeOverrideFromAFolderOrASingleFile(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        // a *.vae.safetensors as A1111 users have them: VAE names without the first_stage_model. prefix,
        // here the fp16-rounded VAE of the fp16 fixture
        Path vaeFile = tmp.resolve("tiny.vae.safetensors");
        try (NDManager m = NDManager.newBaseManager(); SafeTensors st = SafeTensors.open(singleFile("tiny-sd15-fp16.safetensors"))) {
            Map<String, NDArray> vae = new java.util.LinkedHashMap<>();
            for (String k : st.tensors().keySet()) {
                if (k.startsWith("first_stage_model.")) {
                    vae.put(k.substring("first_stage_model.".length()), st.load(m, k));
                }
            }
            SafeTensors.write(vaeFile, vae, Map.of("format", "pt"));
        }
        try (StableDiffusionPipeline baked = load("tiny-sd15.safetensors", Fixtures.SD15);
             StableDiffusionPipeline folder = SingleFileLoader.load(singleFile("tiny-sd15.safetensors"),
                     new SingleFileLoader.Options(Fixtures.dir(Fixtures.SD15), Fixtures.dir(Fixtures.SD15).resolve("vae"), false, null));
             StableDiffusionPipeline file = SingleFileLoader.load(singleFile("tiny-sd15.safetensors"),
                     new SingleFileLoader.Options(Fixtures.dir(Fixtures.SD15), vaeFile, false, null));
             NDManager m = NDManager.newBaseManager()) {
            NDArray lat = SafeTensors.read(Fixtures.reference(Fixtures.SD15, "vae.safetensors"), m).get("decode_latents");
            NDArray a = baked.decodeLatents(lat);
            // the fixture's own VAE as a diffusers vae/ folder: the same decode as the baked-in one
            Allclose.assertClose("vae folder override", a, folder.decodeLatents(lat), 0, 0);
            double dev = Allclose.assertClose("fp16 vae file override", a, file.decodeLatents(lat), 0.02, 0.02);
            assertTrue(dev > 0, "the override must really replace the VAE");
        }
    }

    /**
     * A --vae was applied but not recorded: the infotext needs A1111's {@code VAE hash} (10 hex digits of the file's
     * SHA-256) and {@code VAE} (the file name) after {@code Model}; the model's own VAE writes neither.
     */
    @Test
    void aVaeOverrideIsRecordedInTheInfotext(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Path vaeFile = tmp.resolve("tiny.vae.safetensors");
        try (NDManager m = NDManager.newBaseManager(); SafeTensors st = SafeTensors.open(singleFile("tiny-sd15.safetensors"))) {
            Map<String, NDArray> vae = new java.util.LinkedHashMap<>();
            for (String k : st.tensors().keySet()) {
                if (k.startsWith("first_stage_model.")) {
                    vae.put(k.substring("first_stage_model.".length()), st.load(m, k));
                }
            }
            SafeTensors.write(vaeFile, vae, Map.of("format", "pt"));
        }
        String vaeHash = dev.tenstep.io.Hashes.sha256(java.nio.file.Files.readAllBytes(vaeFile)).substring(0, 10);
        GenerationRequest r = new GenerationRequest("a cube", "", 2, 7.5, 5, dev.tenstep.sampling.SamplerKind.DDIM, null,
                null, 64, 64);
        try (StableDiffusionPipeline own = SingleFileLoader.load(singleFile("tiny-sd15.safetensors"),
                     new SingleFileLoader.Options(Fixtures.dir(Fixtures.SD15), null, false, null));
             StableDiffusionPipeline file = SingleFileLoader.load(singleFile("tiny-sd15.safetensors"),
                     new SingleFileLoader.Options(Fixtures.dir(Fixtures.SD15), vaeFile, false, null));
             StableDiffusionPipeline folder = SingleFileLoader.load(singleFile("tiny-sd15.safetensors"),
                     new SingleFileLoader.Options(Fixtures.dir(Fixtures.SD15), Fixtures.dir(Fixtures.SD15).resolve("vae"), false, null))) {
            assertEquals(null, own.vaeFile());
            assertFalse(own.generate(r).infotext().contains("VAE"), "the model's own VAE: no VAE keys");
            assertEquals(vaeFile, file.vaeFile());
            String info = file.generate(r).infotext();
            assertTrue(info.contains(", Model: tiny-sd15, VAE hash: " + vaeHash + ", VAE: tiny.vae.safetensors"), info);
            // a diffusers vae/ folder has no file hash: its name only
            String fromFolder = folder.generate(r).infotext();
            assertTrue(fromFolder.contains(", Model: tiny-sd15, VAE: vae") && !fromFolder.contains("VAE hash"), fromFolder);
        }
    }

    @Test
    void aFullCheckpointIsNotAVaeAndAVaeIsNotACheckpoint() {
        // a --vae file must hold VAE weights only, as A1111's VAE files do
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> SingleFileLoader.load(singleFile("tiny-sd15.safetensors"),
                new SingleFileLoader.Options(Fixtures.dir(Fixtures.SD15), singleFile("tiny-sd21.safetensors"), false, null)));
        assertTrue(e.getMessage().contains("not a VAE file"), e.getMessage());
    }
}
