package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.model.vae.LatentDist;
import dev.tenstep.sampling.CfgDenoiser;
import dev.tenstep.sampling.Img2ImgSteps;
import dev.tenstep.sampling.RngKind;
import dev.tenstep.sampling.Sampler;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;
import dev.tenstep.sampling.SigmaSchedule;
import dev.tenstep.sampling.StepListener;
import dev.tenstep.sampling.TorchCpuRandom;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The img2img fixture ({@code src/test/shared/fixtures/img2img}, README there) on {@code tiny-sd15}: case 1
 * ({@code encode}: the PNG as a tensor, the VAE encoder, the sampled latent), case 2 ({@code img2img_ddim}: every
 * strength, diffusers' rule), case 3 ({@code img2img_sigma}: GE truncated at the strength, both rules) and case 5
 * ({@code hires}: first pass, both latent upscalers, both second-pass rules), each stage from the fixture's inputs;
 * then the product end to end from the PNG and the seed ({@link StableDiffusionPipeline#generate}). Case 4 is
 * {@link LatentUpscalerFixtureTest}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class Img2ImgFixtureTest {
    private static final String PROMPT = "a photo of an astronaut riding a horse on mars";
    private StableDiffusionPipeline p;
    private NDManager manager;
    private JsonNode cases;

    @BeforeAll
    void load() throws IOException {
        manager = NDManager.newBaseManager();
        p = StableDiffusionPipeline.load(Fixtures.dir(Fixtures.SD15));
        cases = new ObjectMapper().readTree(dir().resolve("cases.json").toFile());
    }

    @AfterAll
    void close() {
        p.close();
        manager.close();
    }

    private static Path dir() {
        return Fixtures.root().resolve("img2img");
    }

    private JsonNode caseById(String id) {
        for (JsonNode c : cases.get("cases")) {
            if (c.get("id").asText().equals(id)) {
                return c;
            }
        }
        throw new AssertionError("no case " + id + " in img2img/cases.json");
    }

    private Map<String, NDArray> ref(String caseId, NDManager m) throws IOException {
        return SafeTensors.read(dir().resolve(caseById(caseId).get("file").asText()), m);
    }

    /** Compares at the case's tolerance (exact for integer tensors); a tensor without a tolerance fails. */
    private void check(String caseId, String tensor, NDArray expected, NDArray actual) {
        JsonNode t = caseById(caseId).get("tolerance").get(tensor);
        assertTrue(t != null, "no tolerance for " + tensor + " in case " + caseId);
        if (t.has("exact")) {
            Allclose.assertExact(caseId + " " + tensor, expected, actual);
        } else {
            Allclose.assertClose(caseId + " " + tensor, expected, actual, t.get("atol").asDouble(), t.get("rtol").asDouble());
        }
    }

    private static NDArray stack(NDManager m, List<float[]> perStep, Shape each) {
        NDList l = new NDList();
        for (float[] a : perStep) {
            l.add(m.create(a, each));
        }
        return NDArrays.stack(l);
    }

    private static long[] longs(double[] d) {
        long[] out = new long[d.length];
        for (int i = 0; i < d.length; i++) {
            out[i] = Math.round(d[i]);
            assertEquals(d[i], out[i], 0.0, "an integer timestep");
        }
        return out;
    }

    private static InitImage initImage() throws IOException {
        return InitImage.read(dir().resolve("init_image.png"));
    }

    private CfgDenoiser denoiser(NDArray embeds) {
        return new CfgDenoiser(p.unet()::forward, embeds, 7.5, p.noiseSchedule());
    }

    /** x after each step in z coordinates (diffusers' latents), and x0-hat. */
    private static StepListener recording(List<float[]> zs, List<float[]> x0hats) {
        return e -> {
            zs.add(e.x().div((float) Math.sqrt(1 + e.sigmaNext() * e.sigmaNext())).toFloatArray());
            x0hats.add(e.x0hat().toFloatArray());
            return true;
        };
    }

    /** Case 1: PNG to tensor (bitwise), the encoder's mean / logvar / std, the sample and the pipeline latents. */
    @Test
    void encodeMatchesDiffusers() throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref("encode", m);
            float[] image = initImage().tensor(64, 64);
            assertArrayEquals(r.get("init_image").toFloatArray(), image, 0f, "2 * (pixel / 255) - 1, bitwise");
            // enc_noise is the seed's first torch-cpu draw, the img2img noise its second
            float[] enc = new TorchCpuRandom(1560).randn(4 * 16 * 16);
            assertArrayEquals(r.get("enc_noise").toFloatArray(), enc, 0f);
            assertArrayEquals(ref("img2img_ddim", m).get("noise").toFloatArray(),
                    RngKind.TORCH_CPU.secondDraw(1560, 4 * 16 * 16), 0f);

            NDArray x = m.create(image, new Shape(1, 3, 64, 64));
            LatentDist d = p.vae().encode(x);
            check("encode", "encode_mean", r.get("encode_mean"), d.mean());
            check("encode", "encode_logvar", r.get("encode_logvar"), d.logvar());
            check("encode", "encode_std", r.get("encode_std"), d.std());
            check("encode", "sample", r.get("sample"), d.sample(r.get("enc_noise")));
            check("encode", "init_latents", r.get("init_latents"), p.encode(x, r.get("enc_noise")));
        }
    }

    /** Case 2: every strength with DDIM, diffusers' rule: timesteps, add_noise, each step, final latents and image. */
    @Test
    void everyDdimRunMatchesDiffusersImg2Img() throws Exception {
        int runs = 0;
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref("img2img_ddim", m);
            NDArray init = ref("encode", m).get("init_latents");
            CfgDenoiser d = denoiser(r.get("prompt_embeds"));
            for (Iterator<Map.Entry<String, JsonNode>> it = caseById("img2img_ddim").get("runs").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> run = it.next();
                String name = run.getKey();
                JsonNode spec = run.getValue();
                int n = spec.get("num_inference_steps").asInt();
                Img2ImgSteps.Span span = Img2ImgSteps.DIFFUSERS.span(n, spec.get("strength").asDouble());
                assertEquals(spec.get("t_start").asInt(), span.start(), name + " t_start");
                assertEquals(spec.get("steps_run").asInt(), span.steps(), name + " steps");
                SigmaSchedule s = ScheduleKind.DDIM.build(p.noiseSchedule(), span.scheduleSteps()).tail(span.start());
                check("img2img_ddim", name + ".timesteps", r.get(name + ".timesteps"), m.create(longs(s.timesteps())));
                NDArray z0 = Img2ImgSteps.addNoise(init, r.get("noise"), s.sigma(0));
                check("img2img_ddim", name + ".noised_latents", r.get(name + ".noised_latents"), z0);
                List<float[]> zs = new ArrayList<>();
                NDArray z = SamplerKind.DDIM.sampler().sample(d, z0, s, null, recording(zs, new ArrayList<>()));
                check("img2img_ddim", name + ".latents_per_step", r.get(name + ".latents_per_step"),
                        stack(m, zs, z0.getShape()));
                check("img2img_ddim", name + ".final_latents", r.get(name + ".final_latents"), z);
                check("img2img_ddim", name + ".final_image", r.get(name + ".final_image"), p.decodeLatents(z));
                runs++;
            }
        }
        assertEquals(3, runs, "runs in cases.json");
    }

    /** Case 3: GE (gamma 2) on the log-linear schedule truncated at the strength, diffusers' and A1111's rules. */
    @Test
    void everySigmaRunMatches() throws Exception {
        int runs = 0;
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref("img2img_sigma", m);
            Map<String, NDArray> inputs = ref("img2img_ddim", m);
            NDArray init = ref("encode", m).get("init_latents");
            CfgDenoiser d = denoiser(inputs.get("prompt_embeds"));
            for (Iterator<Map.Entry<String, JsonNode>> it = caseById("img2img_sigma").get("runs").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> run = it.next();
                String name = run.getKey();
                JsonNode spec = run.getValue();
                Img2ImgSteps rule = spec.get("rule").asText().equals("a1111_rule") ? Img2ImgSteps.A1111 : Img2ImgSteps.DIFFUSERS;
                Img2ImgSteps.Span span = rule.span(10, spec.get("strength").asDouble());
                assertEquals(spec.get("start_index").asInt(), span.start(), name + " start index");
                assertEquals(spec.get("steps_run").asInt(), span.steps(), name + " steps");
                SigmaSchedule s = ScheduleKind.byName(spec.get("schedule").asText()).build(p.noiseSchedule(), 10)
                        .tail(span.start());
                check("img2img_sigma", name + ".sigmas", r.get(name + ".sigmas"), m.create(s.sigmas()).toType(DataType.FLOAT32, false));
                check("img2img_sigma", name + ".timesteps", r.get(name + ".timesteps"),
                        m.create(s.timesteps()).toType(DataType.FLOAT32, false));
                NDArray z0 = Img2ImgSteps.addNoise(init, inputs.get("noise"), s.sigma(0));
                check("img2img_sigma", name + ".start_latents", r.get(name + ".start_latents"), z0);
                List<float[]> x0hats = new ArrayList<>();
                NDArray z = new Sampler(spec.get("gamma").asDouble(), spec.get("mu").asDouble())
                        .sample(d, z0, s, null, recording(new ArrayList<>(), x0hats));
                check("img2img_sigma", name + ".x0_hat_per_step", r.get(name + ".x0_hat_per_step"), stack(m, x0hats, z0.getShape()));
                check("img2img_sigma", name + ".final_latents", r.get(name + ".final_latents"), z);
                check("img2img_sigma", name + ".final_image", r.get(name + ".final_image"), p.decodeLatents(z));
                runs++;
            }
        }
        assertEquals(4, runs, "runs in cases.json");
    }

    /** Case 5: the hires fix stage by stage: first pass, upscale, second pass by both rules. */
    @Test
    void hiresFixStagesMatch() throws Exception {
        int runs = 0;
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref("hires", m);
            CfgDenoiser d = denoiser(r.get("prompt_embeds"));
            NDArray first = SamplerKind.DDIM.sampler().sample(d, r.get("initial_latents"),
                    ScheduleKind.DDIM.build(p.noiseSchedule(), 10), null, null);
            check("hires", "first_pass_final_latents", r.get("first_pass_final_latents"), first);
            assertArrayEquals(r.get("hr_noise").toFloatArray(), new TorchCpuRandom(1530).randn(4 * 32 * 32), 0f,
                    "the hires noise is the first draw of a fresh generator of the seed");
            NDArray firstRef = r.get("first_pass_final_latents");
            for (Iterator<Map.Entry<String, JsonNode>> it = caseById("hires").get("runs").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> run = it.next();
                String name = run.getKey();
                JsonNode spec = run.getValue();
                String mode = name.substring(0, name.indexOf('.'));
                LatentUpscaler u = LatentUpscaler.byName(spec.get("a1111_upscaler").asText());
                NDArray up = m.create(u.resize(firstRef.toFloatArray(), firstRef.getShape().getShape(), 32, 32),
                        new Shape(1, 4, 32, 32));
                check("hires", mode + ".upscaled_latents", r.get(mode + ".upscaled_latents"), up);
                double strength = spec.get("strength").asDouble();
                Img2ImgSteps.Span span = name.endsWith("fixed_steps_rule") ? Img2ImgSteps.fixedSteps(10, strength)
                        : Img2ImgSteps.DIFFUSERS.span(10, strength);
                assertEquals(spec.get("steps_run").asInt(), span.steps(), name + " steps");
                SigmaSchedule s = ScheduleKind.DDIM.build(p.noiseSchedule(), span.scheduleSteps()).tail(span.start());
                check("hires", name + ".timesteps", r.get(name + ".timesteps"), m.create(longs(s.timesteps())));
                NDArray z0 = Img2ImgSteps.addNoise(r.get(mode + ".upscaled_latents"), r.get("hr_noise"), s.sigma(0));
                check("hires", name + ".noised_latents", r.get(name + ".noised_latents"), z0);
                NDArray z = SamplerKind.DDIM.sampler().sample(d, z0, s, null, null);
                check("hires", name + ".final_latents", r.get(name + ".final_latents"), z);
                check("hires", name + ".final_image", r.get(name + ".final_image"), p.decodeLatents(z));
                runs++;
            }
        }
        assertEquals(4, runs, "runs in cases.json");
    }

    private GenerationRequest img2img(SamplerKind sampler, double strength, Img2ImgSteps rule) throws IOException {
        return new GenerationRequest(PROMPT, "", 10, 7.5, 1560, sampler, null, null, null, null, null, null,
                RngKind.TORCH_CPU, new Img2Img(initImage(), strength, rule), null);
    }

    /**
     * The product from the PNG and the seed ({@code --rng torch-cpu}, seed 1560: encoder sample, then noise): every
     * DDIM strength and both GE rules give the fixture's final latents, in the steps the rule runs.
     */
    @Test
    void generateFromThePngReproducesEveryRun() throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> ddim = ref("img2img_ddim", m);
            Map<String, NDArray> sigma = ref("img2img_sigma", m);
            record Run(SamplerKind sampler, double strength, Img2ImgSteps rule, String caseId, String name, int steps) {
            }
            List<Run> runs = List.of(new Run(SamplerKind.DDIM, 0.6, null, "img2img_ddim", "s0_6", 6),
                    new Run(SamplerKind.DDIM, 1.0, null, "img2img_ddim", "s1", 10),
                    new Run(SamplerKind.DDIM, 0.1, null, "img2img_ddim", "s0_1", 1),
                    new Run(SamplerKind.GE, 0.6, null, "img2img_sigma", "ge_diffusers_rule_s0_6", 6),
                    new Run(SamplerKind.GE, 0.6, Img2ImgSteps.A1111, "img2img_sigma", "ge_a1111_rule_s0_6", 7));
            for (Run run : runs) {
                ResolvedRequest req = p.resolve(img2img(run.sampler(), run.strength(), run.rule()));
                assertEquals(64, req.width(), "the init image's size");
                assertEquals(run.steps(), req.stepsRun());
                List<StepProgress> steps = new ArrayList<>();
                GenerationResult res = p.generate(req, null, new TextToImage.Options(null, false, steps::add));
                assertEquals(run.steps(), steps.size());
                assertEquals(run.steps(), steps.get(steps.size() - 1).total());
                Map<String, NDArray> r = run.caseId().equals("img2img_ddim") ? ddim : sigma;
                check(run.caseId(), run.name() + ".final_latents", r.get(run.name() + ".final_latents"),
                        m.create(res.finalLatents(), new Shape(res.latentShape())));
                assertArrayEquals(ddim.get("noise").toFloatArray(), res.initialLatents(), 0f, "the seed's second draw");
                assertTrue(res.infotext().contains("Denoising strength: " + Infotext.number(run.strength())),
                        res.infotext());
                assertEquals(run.rule() == Img2ImgSteps.A1111, res.infotext().contains("Img2img steps: a1111"));
            }
        }
    }

    /**
     * The hires fix end to end (A1111's txt2img with enable_hr: seed 1530, DDIM 10 steps, 2x, strength 0.7, hires
     * steps = first pass): both upscalers give the fixture's fixed-steps second pass, a 128 px image, A1111's infotext.
     */
    @Test
    void generateWithHiresFixReproducesTheFixture() throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref("hires", m);
            for (String mode : List.of("latent_bilinear", "latent_nearest_exact")) {
                String upscaler = mode.equals("latent_bilinear") ? "Latent" : "Latent (nearest-exact)";
                GenerationRequest req = new GenerationRequest(PROMPT, "", 10, 7.5, 1530, SamplerKind.DDIM, null, null,
                        null, null, null, null, RngKind.TORCH_CPU, null,
                        new HiresFix(LatentUpscaler.byName(upscaler), 2.0, null, null, 0, 0.7));
                ResolvedRequest resolved = p.resolve(req);
                assertEquals(20, resolved.stepsRun());
                List<StepProgress> steps = new ArrayList<>();
                GenerationResult res = p.generate(resolved, null, new TextToImage.Options(null, false, steps::add));
                assertEquals(20, steps.size());
                assertEquals(20, steps.get(19).step());
                assertArrayEquals(new long[] {1, 4, 32, 32}, res.latentShape());
                assertEquals(128, res.image().getWidth());
                check("hires", mode + ".fixed_steps_rule.final_latents", r.get(mode + ".fixed_steps_rule.final_latents"),
                        m.create(res.finalLatents(), new Shape(res.latentShape())));
                check("hires", mode + ".fixed_steps_rule.timesteps", r.get(mode + ".fixed_steps_rule.timesteps"),
                        m.create(longs(res.timesteps())));
                String line = res.infotext().substring(res.infotext().lastIndexOf('\n') + 1);
                assertTrue(line.contains("Size: 64x64"), line);
                assertTrue(line.endsWith("Denoising strength: 0.7, RNG: CPU, Hires upscale: 2, Hires upscaler: " + upscaler),
                        line);
            }
        }
    }
}
