package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.sampling.CfgDenoiser;
import dev.tenstep.sampling.NoiseSource;
import dev.tenstep.sampling.Sampler;
import dev.tenstep.sampling.ScheduleKind;
import dev.tenstep.sampling.SigmaSchedule;
import dev.tenstep.sampling.StepListener;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fixture cases 6 ({@code pipeline_ddim}) and 7 ({@code sigma_sampler}): the full denoising loop with
 * the real (tiny) UNet and VAE, every sampler run of the reference, and the pipeline's own stages.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PipelineFixtureTest {
    private final Map<String, StableDiffusionPipeline> pipelines = new HashMap<>();
    private NDManager manager;

    @BeforeAll
    void load() {
        manager = NDManager.newBaseManager();
        for (String f : List.of(Fixtures.SD15, Fixtures.SD21)) {
            pipelines.put(f, StableDiffusionPipeline.load(Fixtures.dir(f)));
        }
    }

    @AfterAll
    void close() {
        pipelines.values().forEach(StableDiffusionPipeline::close);
        manager.close();
    }

    private static Map<String, NDArray> ref(String fixture, String file, NDManager m) throws Exception {
        return SafeTensors.read(Fixtures.reference(fixture, file), m);
    }

    private static void check(String fixture, String caseId, String tensor, NDArray expected, NDArray actual) {
        Allclose.assertClose(fixture + " " + tensor, expected, actual, Fixtures.tolerance(fixture, caseId, tensor));
    }

    private static NDArray stack(NDManager m, List<float[]> perStep, Shape each) {
        NDList l = new NDList();
        for (float[] a : perStep) {
            l.add(m.create(a, each));
        }
        return NDArrays.stack(l);
    }

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21})
    void promptEmbeddingsMatchCase6Inputs(String fixture) throws Exception {
        StableDiffusionPipeline p = pipelines.get(fixture);
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref(fixture, "pipeline_ddim.safetensors", m);
            TextToImage.PromptEmbedding e = p.encodePrompt("a photo of an astronaut riding a horse on mars", "");
            Allclose.assertClose(fixture + " prompt_embeds", r.get("prompt_embeds"), m.create(e.data(), new Shape(e.shape())),
                    Fixtures.tolerance(fixture, "text_encoder", "last_hidden_state"));
        }
    }

    /** Case 6: diffusers' DDIM pipeline = our DDIM preset on the ddim schedule, per step and after decoding. */
    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21})
    void ddimReproducesDiffusersPipeline(String fixture) throws Exception {
        StableDiffusionPipeline p = pipelines.get(fixture);
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref(fixture, "pipeline_ddim.safetensors", m);
            SigmaSchedule s = ScheduleKind.DDIM.build(p.noiseSchedule(), 10);
            long[] ts = new long[10];
            for (int k = 0; k < 10; k++) {
                ts[k] = Math.round(s.timestep(k));
                assertEquals(s.timestep(k), ts[k], 0.0);
            }
            Allclose.assertExact(fixture + " timesteps", r.get("timesteps"), m.create(ts));

            CfgDenoiser d = new CfgDenoiser(p.unet()::forward, r.get("prompt_embeds"), 7.5, p.noiseSchedule());
            List<float[]> zPerStep = new ArrayList<>();
            NDArray zInit = r.get("initial_latents");
            NDArray z = dev.tenstep.sampling.SamplerKind.DDIM.sampler().sample(d, zInit, s, null, e -> {
                // diffusers' latents_per_step are z-space: z = x / sqrt(1 + s_next^2)
                zPerStep.add(e.x().div((float) Math.sqrt(1 + e.sigmaNext() * e.sigmaNext())).toFloatArray());
                return true;
            });
            check(fixture, "pipeline_ddim", "latents_per_step", r.get("latents_per_step"), stack(m, zPerStep, zInit.getShape()));
            check(fixture, "pipeline_ddim", "final_latents", r.get("final_latents"), z);
            check(fixture, "pipeline_ddim", "final_image", r.get("final_image"), p.decodeLatents(z));
        }
    }

    /** Case 7: every reference run of the sigma-space sampler, with the real UNet and VAE. */
    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21})
    void everySigmaSamplerRunMatches(String fixture) throws Exception {
        StableDiffusionPipeline p = pipelines.get(fixture);
        JsonNode runs = Fixtures.caseById(fixture, "sigma_sampler").get("runs");
        int count = 0;
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref(fixture, "sigma_sampler.safetensors", m);
            Map<String, NDArray> inputs = ref(fixture, "pipeline_ddim.safetensors", m);
            NDArray zInit = inputs.get("initial_latents");
            CfgDenoiser d = new CfgDenoiser(p.unet()::forward, inputs.get("prompt_embeds"), 7.5, p.noiseSchedule());
            for (Iterator<Map.Entry<String, JsonNode>> it = runs.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> run = it.next();
                String name = run.getKey();
                JsonNode spec = run.getValue();
                SigmaSchedule s = ScheduleKind.byName(spec.get("schedule").asText()).build(p.noiseSchedule(), 10);
                Sampler sampler = new Sampler(spec.get("gamma").asDouble(), spec.get("mu").asDouble());
                NoiseSource noise = r.containsKey(name + ".noise_per_step")
                        ? NoiseSource.fromTensor(r.get(name + ".noise_per_step")) : null;
                List<float[]> x0hats = new ArrayList<>();
                List<float[]> xs = new ArrayList<>();
                NDArray z = sampler.sample(d, zInit, s, noise, StepListener.recording(x0hats, xs));
                try (NDManager cmp = m.newSubManager()) {
                    check(fixture, "sigma_sampler", name + ".sigmas", r.get(name + ".sigmas"),
                            cmp.create(s.sigmas()).toType(ai.djl.ndarray.types.DataType.FLOAT32, false));
                    check(fixture, "sigma_sampler", name + ".timesteps", r.get(name + ".timesteps"),
                            cmp.create(s.timesteps()).toType(ai.djl.ndarray.types.DataType.FLOAT32, false));
                    check(fixture, "sigma_sampler", name + ".x0_hat_per_step", r.get(name + ".x0_hat_per_step"),
                            stack(cmp, x0hats, zInit.getShape()));
                    if (r.containsKey(name + ".x_per_step")) {
                        check(fixture, "sigma_sampler", name + ".x_per_step", r.get(name + ".x_per_step"),
                                stack(cmp, xs, zInit.getShape()));
                    }
                    check(fixture, "sigma_sampler", name + ".final_latents", r.get(name + ".final_latents"), z);
                    check(fixture, "sigma_sampler", name + ".final_image", r.get(name + ".final_image"), p.decodeLatents(z));
                }
                z.close();
                count++;
            }
        }
        assertEquals(9, count, "runs in cases.json");
    }

    /** The pipeline API end to end: the paper's GE sampler (run f_loglinear_g2) from the reference starting noise. */
    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21})
    void generateWithInitLatentsGivesReferenceGeImage(String fixture) throws Exception {
        StableDiffusionPipeline p = pipelines.get(fixture);
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref(fixture, "sigma_sampler.safetensors", m);
            NDArray zInit = ref(fixture, "pipeline_ddim.safetensors", m).get("initial_latents");
            GenerationRequest req = new GenerationRequest("a photo of an astronaut riding a horse on mars", "", 10, 7.5,
                    1234, dev.tenstep.sampling.SamplerKind.GE, null, null, null, null);
            List<StepProgress> steps = new ArrayList<>();
            GenerationResult res = p.generate(p.resolve(req), null, new TextToImage.Options(zInit.toFloatArray(), true, steps::add));
            assertEquals(dev.tenstep.sampling.ScheduleKind.LOG_LINEAR, res.request().schedule());
            assertEquals(2.0, res.request().gamma());
            assertEquals(10, steps.size());
            assertEquals(1, steps.get(0).step());
            assertEquals(10, steps.get(9).step());
            check(fixture, "sigma_sampler", "f_loglinear_g2.final_latents", r.get("f_loglinear_g2.final_latents"),
                    m.create(res.finalLatents(), new Shape(res.latentShape())));
            check(fixture, "sigma_sampler", "f_loglinear_g2.x0_hat_per_step", r.get("f_loglinear_g2.x0_hat_per_step"),
                    stack(m, res.x0hatPerStep(), zInit.getShape()));
            float[] img = r.get("f_loglinear_g2.final_image").toFloatArray();
            int size = p.defaultSize();
            assertEquals(size, res.image().getWidth());
            int plane = size * size;
            int mismatches = 0;
            for (int y = 0; y < size; y++) {
                for (int x = 0; x < size; x++) {
                    int rgb = res.image().getRGB(x, y);
                    int i = y * size + x;
                    int[] got = {(rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255};
                    for (int c = 0; c < 3; c++) {
                        int want = Images.to8bit(img[c * plane + i]);
                        // float32 vs float64 decoding may flip a value sitting exactly on a rounding boundary
                        assertTrue(Math.abs(want - got[c]) <= 1, "pixel " + x + "," + y + " channel " + c);
                        if (want != got[c]) {
                            double v = Math.min(1, Math.max(0, (img[c * plane + i] + 1.0) / 2.0)) * 255.0;
                            assertEquals(0.5, v - Math.floor(v), 0.01, "a differing pixel must sit on a rounding boundary");
                            mismatches++;
                        }
                    }
                }
            }
            System.out.printf("[pixels] %s GE image: %d of %d 8-bit values differ by 1, none by more%n", fixture, mismatches, 3 * plane);
            assertTrue(mismatches <= plane * 3 / 1000, "too many rounding-boundary differences: " + mismatches);
            assertTrue(res.infotext().contains("Steps: 10, Sampler: GE, Schedule type: log-linear, CFG scale: 7.5, Seed: 1234, Size: "
                    + size + "x" + size + ", Model: " + fixture), res.infotext());
        }
    }
}
