package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.model.clip.ClipTextModel;
import dev.tenstep.model.clip.ClipTokenizer;
import dev.tenstep.model.unet.AddedConditioning;
import dev.tenstep.model.vae.LatentDist;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every tiny-sdxl case (1-12) from both SDXL single files ({@code single-file/tiny-sdxl.safetensors} F32 and
 * {@code tiny-sdxl-fp16.safetensors} F16, SGM layout), each loaded once through {@link SingleFileLoader} with the
 * folder's configs and run through the pipeline's own components: the folder's tests ({@code SdxlTextEncodersTest},
 * {@code SdxlUNetFixtureTest}, {@code VaeReferenceTest}, {@code ScheduleFixtureTest}, {@link SdxlPipelineFixtureTest})
 * run the same cases from the folder.
 *
 * <p>Tolerances: the F32 file holds the folder's weights bit for bit, so every case is asserted at the fixture's
 * tolerance. The F16 file holds every weight rounded to half precision (relative error at most 2^-11), computed in
 * fp32: weight-independent parts (token ids, time ids, schedule, timesteps and sigmas) are asserted exactly as for F32;
 * every tensor a network computes within the bound of the SD 1.5 fp16 file
 * ({@link SingleFilePipelineTest#fp16FileAgreesWithTheFp32File}): atol 0.2% of the tensor's max|expected|, rtol 0.2%
 * (never below the fixture's), and it must deviate at all (else the file was not rounded). Measured (2-core AMD EPYC,
 * libtorch 2.7.1; printed as {@code [sdxl f16]} lines): the largest deviation is 0.15% of max|expected| (VAE
 * encode mean and logvar, the x0-hat previews), 0.09% on the final latents, 0.11% on the UNet outputs and images.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SdxlSingleFileFixtureTest {
    static final String FX = Fixtures.SDXL;
    static final String PROMPT = "a photo of an astronaut riding a horse on mars";
    static final String F32 = "tiny-sdxl.safetensors", F16 = "tiny-sdxl-fp16.safetensors";
    /** The F16 bound, as a share of max|expected| (atol) and relative (rtol): see the class comment. */
    static final double F16_SHARE = 0.002;

    private final Map<String, StableDiffusionPipeline> pipelines = new LinkedHashMap<>();
    private NDManager manager;

    @BeforeAll
    void load() {
        manager = NDManager.newBaseManager();
        for (String file : List.of(F32, F16)) {
            Path f = Fixtures.root().resolve("single-file").resolve(file);
            assertTrue(Files.isRegularFile(f), "missing fixture " + f);
            pipelines.put(file, SingleFileLoader.load(f, new SingleFileLoader.Options(Fixtures.dir(FX), null, false, null)));
        }
    }

    @AfterAll
    void close() {
        pipelines.values().forEach(StableDiffusionPipeline::close);
        manager.close();
    }

    private StableDiffusionPipeline p(String file) {
        StableDiffusionPipeline p = pipelines.get(file);
        assertTrue(p.isXl(), file);
        return p;
    }

    private static Map<String, NDArray> ref(String file, NDManager m) throws Exception {
        return SafeTensors.read(Fixtures.reference(FX, file), m);
    }

    /**
     * A tensor that the networks compute: the fixture tolerance for the F32 file, the F16 bound (and a non-zero
     * deviation) for the F16 file.
     */
    private static void check(String file, String caseId, String tensor, NDArray expected, NDArray actual) {
        Fixtures.Tolerance t = Fixtures.tolerance(FX, caseId, tensor);
        String label = file + " " + caseId + "." + tensor;
        if (file.equals(F32)) {
            Allclose.assertClose(label, expected, actual, t);
            return;
        }
        double max = expected.abs().max().getFloat();
        double dev = Allclose.assertClose(label, expected, actual, Math.max(t.atol(), F16_SHARE * max),
                Math.max(t.rtol(), F16_SHARE));
        assertTrue(dev > 0, label + ": the F16 file computed exactly the F32 numbers: were its weights rounded?");
        System.out.printf("[sdxl f16] %-50s max|dev| %.3e = %.4f%% of max|expected| %.3g%n", caseId + "." + tensor, dev,
                100 * dev / max, max);
    }

    /** A weight-independent tensor (timesteps, sigmas, sinusoids): the fixture tolerance for both files. */
    private static void same(String file, String caseId, String tensor, NDArray expected, NDArray actual) {
        Allclose.assertClose(file + " " + caseId + "." + tensor, expected, actual, Fixtures.tolerance(FX, caseId, tensor));
    }

    /** The request of the pipeline cases: the pipeline prompt, no negative prompt, 10 steps, CFG 7.5, the default size. */
    private static GenerationResult run(StableDiffusionPipeline p, SamplerKind sampler, ScheduleKind schedule, Double gamma,
                                        NDArray initial) {
        GenerationRequest req = new GenerationRequest(PROMPT, "", 10, 7.5, 0, sampler, schedule, gamma, null, null);
        return p.generate(p.resolve(req), null, new TextToImage.Options(initial.toFloatArray(), true, TextToImage.Listener.NONE));
    }

    private static NDArray latents(NDManager m, GenerationResult g) {
        return m.create(g.finalLatents(), new Shape(g.latentShape()));
    }

    private static NDArray stack(NDManager m, List<float[]> perStep, Shape each) {
        NDList l = new NDList();
        perStep.forEach(a -> l.add(m.create(a, each)));
        return NDArrays.stack(l);
    }

    private static NDArray f32(NDManager m, double[] a) {
        return m.create(a).toType(DataType.FLOAT32, false);
    }

    /** Case 1 through the loaded pipeline's tokenizers (the config folder's, pad 49407 and 0). */
    @ParameterizedTest
    @ValueSource(strings = {F32, F16})
    void case1Tokenizers(String file) throws Exception {
        ClipTokenizer[] toks = {p(file).tokenizer(), p(file).tokenizer2()};
        assertEquals(49407, toks[0].padId());
        assertEquals(0, toks[1].padId());
        JsonNode prompts = Fixtures.caseById(FX, "tokenizer").get("inputs").get("prompts");
        assertEquals(16, prompts.size());
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref("tokenizer.safetensors", m);
            for (JsonNode q : prompts) {
                for (int i = 0; i < 2; i++) {
                    String tensor = q.get("tensors").get(i).asText();
                    Allclose.assertExact(file + " " + tensor, r.get(tensor), m.create(toks[i].encode(q.get("prompt").asText())
                            .ids(), new Shape(1, ClipTokenizer.MAX_LENGTH)));
                }
            }
        }
    }

    /** Cases 2 and 3: both encoders' penultimate and last states, encoder 2's pooling position and text_embeds. */
    @ParameterizedTest
    @ValueSource(strings = {F32, F16})
    void cases2And3TextEncoders(String file) throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r1 = ref("text_encoder.safetensors", m);
            ClipTextModel te1 = p(file).textEncoder();
            NDArray ids1 = r1.get("input_ids");
            check(file, "text_encoder", "hidden_states_penultimate", r1.get("hidden_states_penultimate"),
                    te1.encodeSdxl(ids1, null).penultimate());
            check(file, "text_encoder", "last_hidden_state", r1.get("last_hidden_state"), te1.forward(ids1));

            Map<String, NDArray> r2 = ref("text_encoder_2.safetensors", m);
            ClipTextModel te2 = p(file).textEncoder2();
            NDArray ids2 = r2.get("input_ids");
            assertArrayEquals(r2.get("eos_index").toLongArray(), te2.poolingPositions(ids2), file);
            ClipTextModel.SdxlOutput out = te2.encodeSdxl(ids2, null);
            check(file, "text_encoder_2", "hidden_states_penultimate", r2.get("hidden_states_penultimate"), out.penultimate());
            check(file, "text_encoder_2", "text_embeds", r2.get("text_embeds"), out.textEmbeds());
            check(file, "text_encoder_2", "last_hidden_state", r2.get("last_hidden_state"), te2.forward(ids2));
        }
    }

    /**
     * Case 4 (the three prompts' context and pooled embeddings) and the pipeline's own encoding of the pipeline prompt
     * with no negative prompt: case 9's {@code prompt_embeds}, zero unconditional row.
     */
    @ParameterizedTest
    @ValueSource(strings = {F32, F16})
    void case4EncodePrompt(String file) throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref("encode_prompt.safetensors", m);
            ClipTextModel.SdxlOutput a = p(file).textEncoder().encodeSdxl(r.get("input_ids"), null);
            ClipTextModel.SdxlOutput b = p(file).textEncoder2().encodeSdxl(r.get("input_ids_2"), null);
            check(file, "encode_prompt", "prompt_embeds", r.get("prompt_embeds"), a.penultimate().concat(b.penultimate(), 2));
            check(file, "encode_prompt", "pooled_prompt_embeds", r.get("pooled_prompt_embeds"), b.textEmbeds());

            TextToImage.PromptEmbedding e = p(file).encodePrompt(PROMPT, "");
            NDArray expected = ref("pipeline_euler.safetensors", m).get("prompt_embeds");
            NDArray got = m.create(e.data(), new Shape(e.shape()));
            Allclose.assertExact(file + " zero unconditional row", m.zeros(new Shape(1, 77, 56)), got.get(new NDIndex("0:1")));
            // the pipeline's inputs carry no tolerance of their own: the encode_prompt case's
            check(file, "encode_prompt", "prompt_embeds", expected.get(new NDIndex("1:2")), got.get(new NDIndex("1:2")));
        }
    }

    /** Cases 5 and 8: the time ids a request makes and the training schedule of the loaded pipeline. */
    @ParameterizedTest
    @ValueSource(strings = {F32, F16})
    void cases5And8TimeIdsAndSchedule(String file) throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> ids = ref("add_time_ids.safetensors", m);
            GenerationRequest req = new GenerationRequest(PROMPT, "", 10, 7.5, 0, null, null, null, null, null);
            Allclose.assertExact(file + " time_ids_a", ids.get("time_ids_a"),
                    m.create(p(file).resolve(req).timeIds(), new Shape(1, 6)));
            MicroConditioning b = new MicroConditioning(new MicroConditioning.Size(1024, 768),
                    new MicroConditioning.Crop(48, 16), new MicroConditioning.Size(128, 128));
            Allclose.assertExact(file + " time_ids_b", ids.get("time_ids_b"),
                    m.create(p(file).resolve(req.withMicro(b)).timeIds(), new Shape(1, 6)));

            Map<String, NDArray> s = ref("schedule.safetensors", m);
            same(file, "schedule", "alphas_cumprod", s.get("alphas_cumprod"), m.create(p(file).noiseSchedule().alphaBars()));
            same(file, "schedule", "sigmas", s.get("sigmas"), f32(m, p(file).noiseSchedule().sigmas()));
        }
    }

    /** Case 6: the UNet at the four timesteps (rows with different time ids, zero unconditional row). */
    @ParameterizedTest
    @ValueSource(strings = {F32, F16})
    void case6UNet(String file) throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref("unet.safetensors", m);
            AddedConditioning added = new AddedConditioning(r.get("text_embeds"), r.get("time_ids"));
            Map<String, Float> ts = Map.of("out_t999", 999f, "out_t500", 500f, "out_t1", 1f, "out_t437_25", 437.25f);
            for (Map.Entry<String, Float> t : ts.entrySet()) {
                check(file, "unet", t.getKey(), r.get(t.getKey()),
                        p(file).unet().forward(r.get("latents"), t.getValue(), r.get("encoder_hidden_states"), added, null));
            }
        }
    }

    /** Case 7: VAE decode (latents divided by the config's 0.13025) and encode. */
    @ParameterizedTest
    @ValueSource(strings = {F32, F16})
    void case7Vae(String file) throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref("vae.safetensors", m);
            assertEquals(0.13025, p(file).vae().config().scalingFactor());
            check(file, "vae", "decode_image", r.get("decode_image"), p(file).decodeLatents(r.get("decode_latents")));
            LatentDist d = p(file).vae().encode(r.get("encode_image"));
            check(file, "vae", "encode_mean", r.get("encode_mean"), d.mean());
            check(file, "vae", "encode_logvar", r.get("encode_logvar"), d.logvar());
        }
    }

    /** Case 9: diffusers' default SDXL run (Euler on its leading schedule). */
    @ParameterizedTest
    @ValueSource(strings = {F32, F16})
    void case9Euler(String file) throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref("pipeline_euler.safetensors", m);
            GenerationResult g = run(p(file), SamplerKind.EULER, null, null, r.get("initial_latents"));
            same(file, "pipeline_euler", "timesteps", r.get("timesteps"), f32(m, g.timesteps()));
            same(file, "pipeline_euler", "sigmas", r.get("sigmas"), f32(m, g.sigmas()));
            double s0 = g.sigmas()[0];
            same(file, "pipeline_euler", "init_noise_sigma", r.get("init_noise_sigma"),
                    m.create(new float[] {(float) Math.sqrt(s0 * s0 + 1)}));
            NDArray z = latents(m, g);
            check(file, "pipeline_euler", "final_latents", r.get("final_latents"), z);
            check(file, "pipeline_euler", "final_image", r.get("final_image"), p(file).decodeLatents(z));
        }
    }

    /** Case 10: DDIM from the SDXL scheduler config; its x0-hat previews are case 11's {@code a_ddim_g1}. */
    @ParameterizedTest
    @ValueSource(strings = {F32, F16})
    void case10Ddim(String file) throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref("pipeline_ddim.safetensors", m);
            GenerationResult g = run(p(file), SamplerKind.DDIM, null, null, r.get("initial_latents"));
            long[] ts = new long[g.timesteps().length];
            for (int k = 0; k < ts.length; k++) {
                ts[k] = Math.round(g.timesteps()[k]);
            }
            Allclose.assertExact(file + " pipeline_ddim.timesteps", r.get("timesteps"), m.create(ts));
            NDArray z = latents(m, g);
            check(file, "pipeline_ddim", "final_latents", r.get("final_latents"), z);
            check(file, "pipeline_ddim", "final_image", r.get("final_image"), p(file).decodeLatents(z));
        }
    }

    /** Case 11: GE (gamma 2, the default) and gamma 1 on log-linear, gamma 1 on the ddim schedule. */
    @ParameterizedTest
    @ValueSource(strings = {F32, F16})
    void case11SigmaSampler(String file) throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> s = ref("sigma_sampler.safetensors", m);
            NDArray initial = ref("pipeline_euler.safetensors", m).get("initial_latents");
            Map<String, GenerationResult> runs = Map.of(
                    "f_loglinear_g2", run(p(file), null, null, null, initial),
                    "g_loglinear_g1", run(p(file), SamplerKind.GE, ScheduleKind.LOG_LINEAR, 1.0, initial),
                    "a_ddim_g1", run(p(file), SamplerKind.DDIM, ScheduleKind.DDIM, null, initial));
            for (Map.Entry<String, GenerationResult> e : runs.entrySet()) {
                String n = e.getKey();
                GenerationResult g = e.getValue();
                same(file, "sigma_sampler", n + ".sigmas", s.get(n + ".sigmas"), f32(m, g.sigmas()));
                same(file, "sigma_sampler", n + ".timesteps", s.get(n + ".timesteps"), f32(m, g.timesteps()));
                NDArray z = latents(m, g);
                check(file, "sigma_sampler", n + ".final_latents", s.get(n + ".final_latents"), z);
                check(file, "sigma_sampler", n + ".x0_hat_per_step", s.get(n + ".x0_hat_per_step"),
                        stack(m, g.x0hatPerStep(), new Shape(1, 4, 16, 16)));
                check(file, "sigma_sampler", n + ".final_image", s.get(n + ".final_image"), p(file).decodeLatents(z));
            }
            assertEquals(SamplerKind.GE, runs.get("f_loglinear_g2").request().sampler());
        }
    }

    /** Case 12: Euler's step 0, the UNet, VAE and text-encoder intermediates. */
    @ParameterizedTest
    @ValueSource(strings = {F32, F16})
    void case12DebugIntermediates(String file) throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> ref = ref("debug_intermediates.safetensors", m);
            Map<String, NDArray> got = new LinkedHashMap<>();
            Map<String, NDArray> u = ref("unet.safetensors", m);
            p(file).unet().forward(u.get("latents"), 500f, u.get("encoder_hidden_states"),
                    new AddedConditioning(u.get("text_embeds"), u.get("time_ids")), (name, a) -> {
                        NDArray copy = a.duplicate();
                        copy.attach(m);
                        got.put(name, copy);
                    });
            NDArray z = ref("vae.safetensors", m).get("decode_latents");
            p(file).vae().decode(z.div((float) p(file).vae().config().scalingFactor()), got::put);
            Map<String, NDArray> inputs = ref("encode_prompt.safetensors", m);
            for (String enc : List.of("text_encoder", "text_encoder_2")) {
                ClipTextModel te = enc.equals("text_encoder") ? p(file).textEncoder() : p(file).textEncoder2();
                NDArray ids = inputs.get(enc.equals("text_encoder") ? "input_ids" : "input_ids_2").get(new NDIndex("1:2, :"));
                Map<String, NDArray> records = new LinkedHashMap<>();
                te.encodeSdxl(ids, records);
                // the model names its records text_encoder.*; the reference prefixes them with the folder
                records.forEach((k, v) -> got.put(enc + k.substring("text_encoder".length()), v));
            }
            // Euler's step 0: the scaled model input cat[x, x] / sqrt(sigma_0^2 + 1) of x = initial x init_noise_sigma
            // (weight-independent), and the raw UNet output on it with case 9's inputs
            Map<String, NDArray> e9 = ref("pipeline_euler.safetensors", m);
            double s0 = e9.get("sigmas").getFloat(0);
            NDArray x = e9.get("initial_latents").mul(e9.get("init_noise_sigma").getFloat(0));
            same(file, "debug_intermediates", "pipeline_euler.step0.latent_model_input",
                    ref.get("pipeline_euler.step0.latent_model_input"), x.concat(x, 0).div((float) Math.sqrt(s0 * s0 + 1)));
            got.put("pipeline_euler.step0.noise_pred", p(file).unet().forward(ref.get("pipeline_euler.step0.latent_model_input"),
                    e9.get("timesteps").getFloat(0), e9.get("prompt_embeds"),
                    new AddedConditioning(e9.get("add_text_embeds"), e9.get("add_time_ids")), null));
            int compared = 1;
            for (Map.Entry<String, NDArray> e : ref.entrySet()) {
                String name = e.getKey();
                if (name.equals("pipeline_euler.step0.latent_model_input")) {
                    continue; // checked above
                }
                if (name.startsWith("text_encoder.layers.2")) {
                    continue; // encoder 1's last layer feeds nothing SDXL uses and is not run
                }
                assertTrue(got.containsKey(name), file + ": no record of " + name);
                if (name.equals("unet.time_proj") || name.equals("unet.add_time_proj")) {
                    // the sinusoids of the timestep and time ids come before any weight
                    same(file, "debug_intermediates", name, e.getValue(), got.get(name));
                } else {
                    check(file, "debug_intermediates", name, e.getValue(), got.get(name));
                }
                compared++;
            }
            // 2 Euler step 0, 14 UNet, 4 VAE, 3 + 6 text-encoder records: every tensor of the file but encoder 1's last layer
            assertEquals(ref.size() - 1, compared, file);
            assertEquals(2 + 14 + 4 + 9, compared, file);
        }
    }
}
