package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.sampling.CfgDenoiser;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;
import dev.tenstep.sampling.SigmaSchedule;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import dev.tenstep.testing.LoraFixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The {@code fixtures/lora} pipeline cases through the pipeline's own API: {@code <lora:NAME:TE:UNET>} in the
 * prompt, the LoRA merged by {@link StableDiffusionPipeline#generate} without reloading, 10 DDIM steps from the
 * reference starting noise; prompt embeddings, timesteps, latents per step, final latents and image of every run
 * for every file the references apply to; A1111's {@code Lora hashes}; switching back to no LoRA gives the base
 * model's numbers bit for bit; the request errors.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LoraPipelineFixtureTest {
    static final String PROMPT = "a photo of an astronaut riding a horse on mars";
    private StableDiffusionPipeline sd15;
    private StableDiffusionPipeline sd21;
    private NDManager manager;
    private Path loraDir;

    /** A folder with every fixture LoRA file under its own name (what models/Lora holds). */
    static Path loraFolder(Path tmp) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("Lora"));
        for (String f : List.of("tiny-sd15-kohya.safetensors", "tiny-sd15-kohya-fp16.safetensors", "tiny-sd15-peft.safetensors",
                "tiny-sd15-kohya-unknown-key.safetensors", "tiny-sd21-kohya.safetensors")) {
            Files.createSymbolicLink(dir.resolve(f), LoraFixtures.file(f));
        }
        return dir;
    }

    @BeforeAll
    void load(@TempDir Path tmp) throws Exception {
        manager = NDManager.newBaseManager();
        loraDir = loraFolder(tmp);
        sd15 = StableDiffusionPipeline.load(Fixtures.dir(Fixtures.SD15));
        sd21 = StableDiffusionPipeline.load(Fixtures.dir(Fixtures.SD21));
        LoraCatalog catalog = new LoraCatalog(loraDir);
        sd15.setLoraCatalog(catalog);
        sd21.setLoraCatalog(catalog);
    }

    @AfterAll
    void close() {
        sd15.close();
        sd21.close();
        manager.close();
    }

    private static ResolvedRequest ddim(StableDiffusionPipeline p, String prompt) {
        return p.resolve(new GenerationRequest(prompt, "", 10, 7.5, 0, SamplerKind.DDIM, null, null, null, null));
    }

    private static float[] initialLatents(String fixture, NDManager m) throws Exception {
        return SafeTensors.read(Fixtures.reference(fixture, "pipeline_ddim.safetensors"), m).get("initial_latents").toFloatArray();
    }

    private static GenerationResult run(StableDiffusionPipeline p, String prompt, float[] init) {
        return p.generate(ddim(p, prompt), null, new TextToImage.Options(init, false, TextToImage.Listener.NONE));
    }

    /** The z-space latents after each DDIM step (diffusers' latents_per_step), with the prompt's LoRAs held. */
    private static NDArray latentsPerStep(StableDiffusionPipeline p, ResolvedRequest r, NDArray zInit, NDManager m) {
        TextToImage.PromptEmbedding e = p.encodePrompt(r);
        try (LoraSwitch.Lease lease = p.loras().use(r.prompt())) {
            SigmaSchedule s = ScheduleKind.DDIM.build(p.noiseSchedule(), 10);
            CfgDenoiser d = new CfgDenoiser(p.unet()::forward, m.create(e.data(), new Shape(e.shape())), 7.5, p.noiseSchedule());
            List<float[]> perStep = new ArrayList<>();
            SamplerKind.DDIM.sampler().sample(d, zInit, s, null, step -> {
                // the step's arrays are released after the callback: copied out
                perStep.add(step.x().div((float) Math.sqrt(1 + step.sigmaNext() * step.sigmaNext())).toFloatArray());
                return true;
            });
            NDList l = new NDList();
            perStep.forEach(a -> l.add(m.create(a, zInit.getShape())));
            return NDArrays.stack(l);
        }
    }

    @Test
    void everyPipelineRunOfEveryFileMatchesTheReference() throws Exception {
        JsonNode files = LoraFixtures.cases().get("lora_files");
        int runs = 0;
        for (String set : List.of("tiny-sd15-kohya", "tiny-sd21-kohya")) {
            String caseId = set + ".pipeline";
            String fixture = set.startsWith("tiny-sd21") ? Fixtures.SD21 : Fixtures.SD15;
            StableDiffusionPipeline p = fixture.equals(Fixtures.SD21) ? sd21 : sd15;
            JsonNode c = LoraFixtures.caseById(caseId);
            try (NDManager m = manager.newSubManager()) {
                Map<String, NDArray> ref = SafeTensors.read(LoraFixtures.reference(caseId), m);
                float[] init = initialLatents(fixture, m);
                assertArrayEquals(ref.get("initial_latents").toFloatArray(), init, "the case's input is the base case's");
                for (String file : LoraFixtures.filesGivingTheSameResult(caseId)) {
                    String name = file.substring(0, file.length() - ".safetensors".length());
                    for (Iterator<Map.Entry<String, JsonNode>> it = c.get("runs").fields(); it.hasNext(); ) {
                        Map.Entry<String, JsonNode> run = it.next();
                        String id = run.getKey();
                        String prompt = run.getValue().get("a1111_prompt").asText().replace("<lora:" + set + ":", "<lora:" + name + ":");
                        ResolvedRequest r = ddim(p, prompt);
                        GenerationResult res = run(p, prompt, init);
                        String label = file + " run " + id;
                        long[] ts = new long[10];
                        for (int k = 0; k < 10; k++) {
                            ts[k] = Math.round(res.timesteps()[k]);
                        }
                        Allclose.assertExact(label + " timesteps", ref.get(id + ".timesteps"), m.create(ts));
                        Allclose.assertClose(label + " prompt_embeds", ref.get(id + ".prompt_embeds"),
                                m.create(p.encodePrompt(r).data(), new Shape(2, 77, 32)),
                                LoraFixtures.tolerance(caseId, id + ".prompt_embeds"));
                        NDArray zFinal = m.create(res.finalLatents(), new Shape(res.latentShape()));
                        Allclose.assertClose(label + " final_latents", ref.get(id + ".final_latents"), zFinal,
                                LoraFixtures.tolerance(caseId, id + ".final_latents"));
                        Allclose.assertClose(label + " final_image", ref.get(id + ".final_image"), p.decodeLatents(zFinal),
                                LoraFixtures.tolerance(caseId, id + ".final_image"));
                        if (file.equals(set + ".safetensors")) {
                            // per step for the main file (the others give the same final latents, checked above)
                            Allclose.assertClose(label + " latents_per_step", ref.get(id + ".latents_per_step"),
                                    latentsPerStep(p, r, m.create(init, new Shape(res.latentShape())), m),
                                    LoraFixtures.tolerance(caseId, id + ".latents_per_step"));
                        }
                        // A1111's infotext field, with this file's own hash
                        String hash = files.get(file).get("a1111_shorthash").asText();
                        assertTrue(res.infotext().endsWith(", Lora hashes: \"" + name + ": " + hash + "\""), res.infotext());
                        assertTrue(res.infotext().startsWith(prompt + "\n"), "the prompt is recorded with its tag");
                        runs++;
                    }
                }
            }
        }
        assertEquals(4 * 3 + 1, runs, "kohya, fp16, PEFT and unknown-key files x runs a, b, c; tiny-sd21 run a");
    }

    @Test
    void theInfotextFragmentIsA1111s() {
        GenerationResult res = run(sd15, PROMPT + " <lora:tiny-sd15-kohya:0.8>", null);
        String fragment = LoraFixtures.caseById("tiny-sd15-kohya.pipeline").get("runs").get("a").get("a1111_infotext_fragment").asText();
        assertEquals("Lora hashes: \"tiny-sd15-kohya: bbff1302ca45\"", fragment);
        assertTrue(res.infotext().contains(", " + fragment), res.infotext());
        assertEquals("tiny-sd15-kohya: bbff1302ca45", Infotext.parse(res.infotext()).get("Lora hashes"), "A1111's reader unquotes it");
        assertFalse(run(sd15, PROMPT, null).infotext().contains("Lora hashes"), "no LoRA, no field");
    }

    @Test
    void multiplierZeroAndSwitchingBackGiveTheBaseModelBitForBit() throws Exception {
        try (NDManager m = manager.newSubManager()) {
            float[] init = initialLatents(Fixtures.SD15, m);
            float[] base = run(sd15, PROMPT, init).finalLatents();
            float[] zero = run(sd15, PROMPT + " <lora:tiny-sd15-kohya:0>", init).finalLatents();
            assertArrayEquals(base, zero, "<lora:x:0> is the base model exactly");
            float[] withLora = run(sd15, PROMPT + " <lora:tiny-sd15-kohya:0.8>", init).finalLatents();
            double maxDiff = 0;
            for (int i = 0; i < base.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(base[i] - withLora[i]));
            }
            assertTrue(maxDiff > 1, "the LoRA changes the picture (max |diff| " + maxDiff + ")");
            assertEquals(java.util.List.of("tiny-sd15-kohya"), sd15.loras().appliedNames());
            float[] again = run(sd15, PROMPT, init).finalLatents();
            assertArrayEquals(base, again, "after the LoRA: the base weights restored bit for bit");
            assertTrue(sd15.loras().appliedNames().isEmpty());
            // the base model's own reference (no LoRA): within its tolerance
            Map<String, NDArray> baseRef = SafeTensors.read(Fixtures.reference(Fixtures.SD15, "pipeline_ddim.safetensors"), m);
            Allclose.assertClose("base final_latents", baseRef.get("final_latents"), m.create(again, new Shape(1, 4, 16, 16)),
                    Fixtures.tolerance(Fixtures.SD15, "pipeline_ddim", "final_latents"));
        }
    }

    @Test
    void twoLorasInOnePromptAddUp() throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> ref = SafeTensors.read(LoraFixtures.reference("tiny-sd15-kohya.pipeline"), m);
            // the PEFT file holds the same deltas: 0.5 + 0.3 = run a's 0.8
            GenerationResult res = run(sd15, "<lora:tiny-sd15-kohya:0.5>" + PROMPT + " <lora:tiny-sd15-peft:0.3>",
                    initialLatents(Fixtures.SD15, m));
            Allclose.assertClose("0.5 + 0.3 final_latents", ref.get("a.final_latents"),
                    m.create(res.finalLatents(), new Shape(res.latentShape())),
                    LoraFixtures.tolerance("tiny-sd15-kohya.pipeline", "a.final_latents"));
            String peft = LoraFixtures.cases().get("lora_files").get("tiny-sd15-peft.safetensors").get("a1111_shorthash").asText();
            assertTrue(res.infotext().endsWith("Lora hashes: \"tiny-sd15-kohya: bbff1302ca45, tiny-sd15-peft: " + peft + "\""),
                    res.infotext());
        }
    }

    @Test
    void teAndUnetMultipliersAreSeparate() throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> ref = SafeTensors.read(LoraFixtures.reference("tiny-sd15-kohya.pipeline"), m);
            float[] init = initialLatents(Fixtures.SD15, m);
            // run b written with named arguments: te=0.5, unet=1
            GenerationResult named = run(sd15, PROMPT + " <lora:tiny-sd15-kohya:te=0.5:unet=1>", init);
            Allclose.assertClose("named te/unet final_latents", ref.get("b.final_latents"),
                    m.create(named.finalLatents(), new Shape(named.latentShape())),
                    LoraFixtures.tolerance("tiny-sd15-kohya.pipeline", "b.final_latents"));
            // swapped multipliers are far off run b (the fixture's "typical mistake": 3.6)
            GenerationResult swapped = run(sd15, PROMPT + " <lora:tiny-sd15-kohya:1:0.5>", init);
            float[] b = ref.get("b.final_latents").toFloatArray();
            double maxDiff = 0;
            for (int i = 0; i < b.length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(b[i] - swapped.finalLatents()[i]));
            }
            assertTrue(maxDiff > 1, "swapped multipliers differ from run b by " + maxDiff);
        }
    }

    @Test
    void unmatchedKeysAreReportedWithTheirCountAndNames() {
        GenerationResult res = run(sd15, PROMPT + " <lora:tiny-sd15-kohya-unknown-key:0.8>", null);
        String w = res.warnings().stream().filter(x -> x.contains("tiny-sd15-kohya-unknown-key")).findFirst().orElseThrow();
        assertTrue(w.contains("3 key(s) match no module of tiny-sd15"), w);
        assertTrue(w.contains("lora_unet_down_blocks_2_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight"), w);
        assertTrue(run(sd15, PROMPT + " <lora:tiny-sd15-kohya:0.8>", null).warnings().stream().noneMatch(x -> x.contains("LoRA")));
    }

    @Test
    void requestErrorsNameTheProblem() {
        InvalidRequestException unknown = assertThrows(InvalidRequestException.class,
                () -> sd15.resolve(GenerationRequest.of(PROMPT + " <lora:no-such-lora:1>")));
        assertEquals("prompt", unknown.fieldErrors().get(0).field());
        assertTrue(unknown.getMessage().contains("unknown LoRA 'no-such-lora'") && unknown.getMessage().contains("tiny-sd15-kohya"),
                unknown.getMessage());

        InvalidRequestException arch = assertThrows(InvalidRequestException.class,
                () -> sd15.resolve(GenerationRequest.of(PROMPT + " <lora:tiny-sd21-kohya:1>")));
        assertTrue(arch.getMessage().contains("'tiny-sd21-kohya' is for SD 2.x") && arch.getMessage().contains("the model is SD 1.x"),
                arch.getMessage());
        InvalidRequestException back = assertThrows(InvalidRequestException.class,
                () -> sd21.resolve(GenerationRequest.of(PROMPT + " <lora:tiny-sd15-kohya:1>")));
        assertTrue(back.getMessage().contains("is for SD 1.x") && back.getMessage().contains("the model is SD 2.x"), back.getMessage());

        InvalidRequestException negative = assertThrows(InvalidRequestException.class, () -> sd15.resolve(
                new GenerationRequest(PROMPT, "<lora:tiny-sd15-kohya:1>", 10, null, 1, null, null, null, null, null)));
        assertEquals("negative_prompt", negative.fieldErrors().get(0).field());

        InvalidRequestException syntax = assertThrows(InvalidRequestException.class,
                () -> sd15.resolve(GenerationRequest.of(PROMPT + " <lora:tiny-sd15-kohya:lots>")));
        assertTrue(syntax.getMessage().contains("multiplier 'lots' is not a number"), syntax.getMessage());

        // generate checks again: a request resolved elsewhere cannot slip an unknown name through
        ResolvedRequest unchecked = new ResolvedRequest(PROMPT + " <lora:gone:1>", "", 10, 7.5, 1, SamplerKind.DDIM,
                ScheduleKind.DDIM, null, 64, 64, dev.tenstep.pipeline.prompt.PromptSyntax.A1111, 1,
                dev.tenstep.sampling.RngKind.DEFAULT);
        InvalidRequestException gone = assertThrows(InvalidRequestException.class, () -> sd15.generate(unchecked));
        assertTrue(gone.getMessage().contains("unknown LoRA 'gone'"), gone.getMessage());
    }

    @Test
    void aThreadHoldingALeaseGetsTheSameSetAgainButNotAnother() {
        String a = PROMPT + " <lora:tiny-sd15-kohya:0.8>";
        try (LoraSwitch.Lease outer = sd15.loras().use(a)) {
            // encodePrompt takes its own lease: granted at once to the holder (no wait for itself)
            assertEquals(2 * 77 * 32, sd15.encodePrompt(a, "").data().length);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> sd15.loras().use(PROMPT));
            assertTrue(e.getMessage().contains("asked for other LoRAs"), e.getMessage());
            assertEquals(List.of("tiny-sd15-kohya"), sd15.loras().appliedNames());
        }
        // released: another set switches
        try (LoraSwitch.Lease none = sd15.loras().use(PROMPT)) {
            assertTrue(sd15.loras().appliedNames().isEmpty());
        }
    }

    @Test
    void withoutAFolderEveryTagIsRefused() {
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(Fixtures.dir(Fixtures.SD15))) {
            InvalidRequestException e = assertThrows(InvalidRequestException.class,
                    () -> p.resolve(GenerationRequest.of(PROMPT + " <lora:tiny-sd15-kohya:1>")));
            assertTrue(e.getMessage().contains("no LoRA folder is set"), e.getMessage());
            assertNotNull(p.resolve(GenerationRequest.of(PROMPT)));
        }
    }

    @Test
    void concurrentGenerationsWithDifferentLorasGetTheirOwnPictures() throws Exception {
        try (NDManager m = manager.newSubManager()) {
            float[] init = initialLatents(Fixtures.SD15, m);
            List<String> prompts = List.of(PROMPT, PROMPT + " <lora:tiny-sd15-kohya:0.8>", PROMPT + " <lora:tiny-sd15-kohya:0.5:1>",
                    PROMPT + " <lora:tiny-sd15-kohya:0.8>");
            List<float[]> sequential = new ArrayList<>();
            for (String p : prompts) {
                sequential.add(run(sd15, p, init).finalLatents());
            }
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<float[]>> futures = new ArrayList<>();
                for (String p : prompts) {
                    Callable<float[]> job = () -> run(sd15, p, init).finalLatents();
                    futures.add(pool.submit(job));
                }
                for (int i = 0; i < futures.size(); i++) {
                    assertArrayEquals(sequential.get(i % prompts.size()), futures.get(i).get(), "request " + i);
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
