package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.pipeline.prompt.Conditioning;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * tiny-sdxl cases 9 ({@code pipeline_euler}), 10 ({@code pipeline_ddim}) and 11 ({@code sigma_sampler}) end to end
 * from the folder: {@link StableDiffusionPipeline#load} of the SDXL folder, a request as a client sends it (the
 * pipeline prompt, no negative prompt, 10 steps, CFG 7.5, the default 128 x 128), generated from the reference's
 * initial latents through the one {@link DenoiseStage}; plus the conditioning the UNet receives (zero unconditional
 * row, pooled embeddings, time ids).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SdxlPipelineFixtureTest {
    static final String FX = Fixtures.SDXL;
    static final String PROMPT = "a photo of an astronaut riding a horse on mars";

    private StableDiffusionPipeline pipeline;
    private NDManager manager;

    @BeforeAll
    void load() {
        manager = NDManager.newBaseManager();
        pipeline = StableDiffusionPipeline.load(Fixtures.dir(FX));
    }

    @AfterAll
    void close() {
        pipeline.close();
        manager.close();
    }

    private static Map<String, NDArray> ref(String file, NDManager m) throws Exception {
        return SafeTensors.read(Fixtures.reference(FX, file), m);
    }

    private static void check(String caseId, String tensor, NDArray expected, NDArray actual) {
        Allclose.assertClose(caseId + "." + tensor, expected, actual, Fixtures.tolerance(FX, caseId, tensor));
    }

    /** The request the pipeline cases make: no negative prompt (""), size unset (the model's default). */
    private GenerationResult run(SamplerKind sampler, ScheduleKind schedule, Double gamma, NDArray initial) {
        GenerationRequest req = new GenerationRequest(PROMPT, "", 10, 7.5, 0, sampler, schedule, gamma, null, null);
        ResolvedRequest r = pipeline.resolve(req);
        return pipeline.generate(r, null, new TextToImage.Options(initial.toFloatArray(), true, TextToImage.Listener.NONE));
    }

    private NDArray latents(NDManager m, GenerationResult g) {
        return m.create(g.finalLatents(), new Shape(g.latentShape()));
    }

    private static NDArray stack(NDManager m, List<float[]> perStep, Shape each) {
        NDList l = new NDList();
        for (float[] a : perStep) {
            l.add(m.create(a, each));
        }
        return NDArrays.stack(l);
    }

    @Test
    void loadsAsSdxlWithItsDefaults() {
        assertTrue(pipeline.isXl());
        assertTrue(pipeline.zeroEmptyNegative(), "model_index.json force_zeros_for_empty_prompt");
        assertEquals(128, pipeline.defaultSize(), "unet sample_size 16 x VAE scale 8");
        assertEquals(8, pipeline.sizeMultiple());
        assertEquals(1, pipeline.maxClipSkip());
        assertEquals(SamplerKind.GE, pipeline.resolve(GenerationRequest.of(PROMPT)).sampler(), "GE stays the default");
        assertEquals(ScheduleKind.LOG_LINEAR, pipeline.resolve(GenerationRequest.of(PROMPT)).schedule());
        assertEquals(dev.tenstep.model.lora.LoraNetwork.Family.SDXL, pipeline.family());
        InvalidRequestException e = org.junit.jupiter.api.Assertions.assertThrows(InvalidRequestException.class,
                () -> pipeline.resolve(GenerationRequest.of(PROMPT).withText(null, 2, null)));
        assertTrue(e.getMessage().contains("clip_skip") && e.getMessage().contains("must be 1 for SDXL"), e.getMessage());
    }

    /** What the UNet receives: zero unconditional row (context and pooled), the prompt's row, the time ids. */
    @Test
    void conditioningMatchesTheUNetInputsOfTheReference() throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref("pipeline_euler.safetensors", m);
            TextToImage.PromptEmbedding e = pipeline.encodePrompt(PROMPT, "");
            assertArrayEquals(new long[] {2, 77, 56}, e.shape());
            // the pipeline's inputs carry no tolerance of their own: the encode_prompt case's
            Allclose.assertClose("pipeline_euler.prompt_embeds", r.get("prompt_embeds"), m.create(e.data(), new Shape(e.shape())),
                    Fixtures.tolerance(FX, "encode_prompt", "prompt_embeds"));
            Conditioning c = Conditioning.build(pipeline.promptEncoder(), m, PROMPT, "", 10,
                    GenerationRequest.DEFAULT_SYNTAX, 1, new HashMap<>(), pipeline.zeroEmptyNegative());
            assertTrue(c.zeroNegative());
            Allclose.assertClose("pipeline_euler.add_text_embeds", r.get("add_text_embeds"),
                    m.create(c.pooledAt(0), new Shape(2, 20)), Fixtures.tolerance(FX, "encode_prompt", "pooled_prompt_embeds"));
            ResolvedRequest req = pipeline.resolve(new GenerationRequest(PROMPT, "", 10, 7.5, 0, null, null, null, null, null));
            float[] ids = req.timeIds();
            Allclose.assertExact("add_time_ids row", r.get("add_time_ids").get(new NDIndex("0:1, :")),
                    m.create(ids, new Shape(1, 6)));
            Allclose.assertExact("add_time_ids row 1 = row 0", r.get("add_time_ids").get(new NDIndex("1:2, :")),
                    m.create(ids, new Shape(1, 6)));
        }
    }

    /**
     * A negative prompt that is given is encoded: {@code " "} tokenizes as {@code ""} (encode_prompt's row 0, what
     * diffusers gives for {@code negative_prompt=""}), a word is encoded like a prompt.
     */
    @Test
    void aGivenNegativePromptIsEncoded() throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref("encode_prompt.safetensors", m);
            Conditioning c = Conditioning.build(pipeline.promptEncoder(), m, PROMPT, " ", 1,
                    GenerationRequest.DEFAULT_SYNTAX, 1, new HashMap<>(), true);
            assertFalse(c.zeroNegative());
            NDArray ctx = m.create(c.contextAt(0), new Shape(c.shapeAt(0)));
            check("encode_prompt", "prompt_embeds", r.get("prompt_embeds").get(new NDIndex("0:2")), ctx);
            check("encode_prompt", "pooled_prompt_embeds", r.get("pooled_prompt_embeds").get(new NDIndex("0:2")),
                    m.create(c.pooledAt(0), new Shape(2, 20)));
            Conditioning word = Conditioning.build(pipeline.promptEncoder(), m, PROMPT, "blurry", 1,
                    GenerationRequest.DEFAULT_SYNTAX, 1, new HashMap<>(), true);
            float[] row0 = java.util.Arrays.copyOf(word.pooledAt(0), 20);
            double norm = 0;
            for (float v : row0) {
                norm += v * v;
            }
            assertTrue(norm > 1, "a non-empty negative prompt is not zeroed: |pooled| = " + Math.sqrt(norm));
        }
    }

    /** Case 9: diffusers' default SDXL run, Euler (leading, steps_offset 1, final sigma 0), from the folder. */
    @Test
    void eulerReproducesDiffusersDefaultPipeline() throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref("pipeline_euler.safetensors", m);
            GenerationResult g = run(SamplerKind.EULER, null, null, r.get("initial_latents"));
            assertEquals(ScheduleKind.EULER, g.request().schedule(), "Euler's own schedule by default");
            check("pipeline_euler", "timesteps", r.get("timesteps"), m.create(g.timesteps()).toType(DataType.FLOAT32, false));
            check("pipeline_euler", "sigmas", r.get("sigmas"), m.create(g.sigmas()).toType(DataType.FLOAT32, false));
            double s0 = g.sigmas()[0];
            check("pipeline_euler", "init_noise_sigma", r.get("init_noise_sigma"),
                    m.create(new float[] {(float) Math.sqrt(s0 * s0 + 1)}));
            NDArray z = latents(m, g);
            check("pipeline_euler", "final_latents", r.get("final_latents"), z);
            check("pipeline_euler", "final_image", r.get("final_image"), pipeline.decodeLatents(z));
            assertTrue(g.infotext().contains("Sampler: Euler"), g.infotext());
            assertTrue(g.infotext().contains("Size: 128x128"), g.infotext());
        }
    }

    /** Case 10: {@code DDIMScheduler.from_config} of the SDXL scheduler config = our DDIM preset, from the folder. */
    @Test
    void ddimReproducesDiffusersPipeline() throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> r = ref("pipeline_ddim.safetensors", m);
            GenerationResult g = run(SamplerKind.DDIM, null, null, r.get("initial_latents"));
            long[] ts = new long[g.timesteps().length];
            for (int k = 0; k < ts.length; k++) {
                ts[k] = Math.round(g.timesteps()[k]);
            }
            Allclose.assertExact("pipeline_ddim.timesteps", r.get("timesteps"), m.create(ts));
            NDArray z = latents(m, g);
            check("pipeline_ddim", "final_latents", r.get("final_latents"), z);
            check("pipeline_ddim", "final_image", r.get("final_image"), pipeline.decodeLatents(z));
            // x0-hat of each step is the DDIM run of case 11 (a_ddim_g1)
            Map<String, NDArray> s = ref("sigma_sampler.safetensors", m);
            check("sigma_sampler", "a_ddim_g1.x0_hat_per_step", s.get("a_ddim_g1.x0_hat_per_step"),
                    stack(m, g.x0hatPerStep(), new Shape(1, 4, 16, 16)));
        }
    }

    /** Case 11: GE (gamma 2, the product default) and gamma 1 on the log-linear schedule, from the folder. */
    @Test
    void sigmaSamplerRunsMatch() throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> s = ref("sigma_sampler.safetensors", m);
            NDArray initial = ref("pipeline_euler.safetensors", m).get("initial_latents");
            Map<String, GenerationResult> runs = Map.of(
                    "f_loglinear_g2", run(null, null, null, initial),
                    "g_loglinear_g1", run(SamplerKind.GE, ScheduleKind.LOG_LINEAR, 1.0, initial),
                    "a_ddim_g1", run(SamplerKind.DDIM, ScheduleKind.DDIM, null, initial));
            for (Map.Entry<String, GenerationResult> e : runs.entrySet()) {
                String n = e.getKey();
                GenerationResult g = e.getValue();
                check("sigma_sampler", n + ".sigmas", s.get(n + ".sigmas"), m.create(g.sigmas()).toType(DataType.FLOAT32, false));
                check("sigma_sampler", n + ".timesteps", s.get(n + ".timesteps"),
                        m.create(g.timesteps()).toType(DataType.FLOAT32, false));
                NDArray z = latents(m, g);
                check("sigma_sampler", n + ".final_latents", s.get(n + ".final_latents"), z);
                check("sigma_sampler", n + ".x0_hat_per_step", s.get(n + ".x0_hat_per_step"),
                        stack(m, g.x0hatPerStep(), new Shape(1, 4, 16, 16)));
                check("sigma_sampler", n + ".final_image", s.get(n + ".final_image"), pipeline.decodeLatents(z));
            }
            assertEquals(SamplerKind.GE, runs.get("f_loglinear_g2").request().sampler());
            assertEquals(2.0, runs.get("f_loglinear_g2").request().gamma());
        }
    }
}
