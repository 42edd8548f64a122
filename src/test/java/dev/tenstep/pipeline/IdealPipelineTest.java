package dev.tenstep.pipeline;

import dev.tenstep.sampling.DpmSolverPlusPlus2M;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;
import dev.tenstep.sampling.ideal.IdealModels;
import dev.tenstep.sampling.ideal.ShapesDataSet;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ideal shapes model behind the pipeline interface, and the DPM++ 2M preset. */
class IdealPipelineTest {
    static GenerationRequest request(String prompt, SamplerKind s, int steps) {
        return new GenerationRequest(prompt, "", steps, 7.5, 11, s, null, null, null, null);
    }

    @Test
    void generatesADataSetPictureAtFiftySteps() {
        try (IdealPipeline p = IdealPipeline.load(IdealModels.SHAPES)) {
            GenerationResult r = p.generate(request("a red circle", SamplerKind.GE, 50));
            assertEquals(64, r.image().getWidth());
            assertArrayEquals(new long[] {1, 3, 64, 64}, r.latentShape());
            assertTrue(r.infotext().contains("Model: \"ideal:shapes\""), r.infotext());
            // the final latent is one of the red circles of the data set plus the noise left at the last level,
            // sigma(0) = 0.0292 (the sampler ends there, as for Stable Diffusion): rms ~ 0.029
            float[] z = r.finalLatents();
            double best = Double.POSITIVE_INFINITY;
            for (int i : p.data().subset("a red circle", "prompt")) {
                float[] y = p.data().image(i);
                double m = 0;
                for (int k = 0; k < y.length; k++) {
                    m += (y[k] - z[k]) * (y[k] - z[k]);
                }
                best = Math.min(best, Math.sqrt(m / y.length));
            }
            assertEquals(0.0292, best, 0.003, "rms deviation from the nearest red circle");
        }
    }

    @Test
    void refusesOtherSizesAndUnknownWords() {
        try (IdealPipeline p = IdealPipeline.load(IdealModels.SHAPES)) {
            InvalidRequestException e = assertThrows(InvalidRequestException.class,
                    () -> p.resolve(request("a red circle", SamplerKind.GE, 10).withSize(128, 64)));
            assertEquals(List.of("width"), e.fieldErrors().stream().map(FieldError::field).toList());
            e = assertThrows(InvalidRequestException.class, () -> p.resolve(request("a mauve blob", SamplerKind.DDIM, 10)));
            assertEquals("prompt", e.fieldErrors().get(0).field());
            assertTrue(e.getMessage().contains("unknown words mauve, blob"), e.getMessage());
            // A1111 emphasis is refused as such, not as the unknown words "1" and "5"
            e = assertThrows(InvalidRequestException.class, () -> p.resolve(request("a (red:1.5) circle", SamplerKind.GE, 10)));
            assertEquals(List.of("prompt"), e.fieldErrors().stream().map(FieldError::field).toList());
            assertTrue(e.getMessage().contains("cannot weight") && !e.getMessage().contains("unknown words"), e.getMessage());
            // a LoRA tag: nothing to apply it to, refused as such (not as the unknown words of the tag)
            e = assertThrows(InvalidRequestException.class, () -> p.resolve(request("a red circle <lora:style:0.8>", SamplerKind.GE, 10)));
            assertEquals(List.of("prompt"), e.fieldErrors().stream().map(FieldError::field).toList());
            assertTrue(e.getMessage().contains("no network weights for a LoRA") && !e.getMessage().contains("unknown words"),
                    e.getMessage());
            ResolvedRequest ok = p.resolve(request("", SamplerKind.DDIM, 10));
            // ddim at N = T with steps_offset 1 would start at t = 1000: refused before it runs, naming steps
            e = assertThrows(InvalidRequestException.class, () -> p.resolve(request("", SamplerKind.DDIM, 1000)));
            assertEquals(List.of("steps"), e.fieldErrors().stream().map(FieldError::field).toList());
            assertTrue(e.getMessage().contains("at most 999"), e.getMessage());
            assertEquals(999, p.resolve(request("", SamplerKind.DDIM, 999)).steps());
            assertEquals(64, ok.width());
            assertEquals(11, ok.seed());
            // a server offers no size the model refuses (serve's banner, /api/info max_size, the form)
            assertEquals(64, p.maxSize());
        }
        assertTrue(ShapesDataSet.get().size() > 0);
    }

    @Test
    void keepsTheRngAndRefusesClipSkip() {
        try (IdealPipeline p = IdealPipeline.load(IdealModels.SHAPES)) {
            ResolvedRequest torch = p.resolve(request("a red circle", SamplerKind.DDIM, 10)
                    .withText(dev.tenstep.pipeline.prompt.PromptSyntax.PLAIN, null, dev.tenstep.sampling.RngKind.TENSTEP));
            assertEquals(dev.tenstep.sampling.RngKind.TENSTEP, torch.rng(), "the request's RNG survives resolve");
            assertEquals(dev.tenstep.pipeline.prompt.PromptSyntax.PLAIN, torch.promptSyntax());
            assertArrayEquals(dev.tenstep.sampling.RngKind.TENSTEP.initialDraw(11, 3 * 64 * 64), p.initialLatents(torch));
            assertTrue(p.generate(torch).infotext().contains("RNG: tenstep"));
            InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> p.resolve(
                    request("a red circle", SamplerKind.DDIM, 10).withText(null, 2, null)));
            assertEquals(List.of("clip_skip"), e.fieldErrors().stream().map(FieldError::field).toList());
        }
    }

    @Test
    void dpmSolverPreset() {
        SamplerKind k = SamplerKind.byName("DPM++ 2M");
        assertEquals(SamplerKind.DPMPP_2M, k);
        assertEquals(k, SamplerKind.byName("dpmpp-2m"));
        assertEquals("DPM++ 2M", k.displayName());
        assertEquals(ScheduleKind.KARRAS, k.defaultSchedule());
        assertEquals("Karras", k.defaultSchedule().a1111Name());
        assertInstanceOf(DpmSolverPlusPlus2M.class, k.sampler());
        assertFalse(k.hasGamma());
        assertTrue(k.defaultGamma().isEmpty(), "no fake gamma");
        IllegalArgumentException noGamma = assertThrows(IllegalArgumentException.class, () -> k.sampler(2.0));
        assertTrue(noGamma.getMessage().contains("DPM++ 2M has no gradient-estimation weight"), noGamma.getMessage());
        GenerationRequest withGamma = new GenerationRequest("x", "", 10, 7.5, 1, k, null, 2.0, null, null);
        List<FieldError> errors = withGamma.validate(8, 1000);
        assertEquals(1, errors.size());
        assertTrue(errors.get(0).message().startsWith("DPM++ 2M has no gradient-estimation weight"), errors.toString());
        try (IdealPipeline p = IdealPipeline.load(IdealModels.SHAPES)) {
            GenerationResult r = p.generate(request("a blue square", k, 10));
            assertEquals(0.0, r.sigmas()[10], 0.0);
            assertTrue(r.infotext().contains("Sampler: DPM++ 2M") && r.infotext().contains("Schedule type: Karras"), r.infotext());
        }
    }

    /**
     * x0-hat reaches the host only when asked: a listener that does not ask gets steps whose x0-hat is gone once
     * its callback returned; one that asks at step 2 keeps that copy only; keepX0hats copies every step.
     */
    @Test
    void x0hatIsCopiedOnlyWhenAListenerAsks() {
        try (IdealPipeline p = IdealPipeline.load(IdealModels.SHAPES)) {
            List<StepProgress> steps = new java.util.ArrayList<>();
            GenerationResult r = p.generate(p.resolve(request("a red circle", SamplerKind.GE, 4)), null,
                    new TextToImage.Options(null, true, s -> {
                        assertTrue(s.hasX0hat(), "readable during the callback");
                        return steps.add(s);
                    }));
            // keepX0hats copies every step for the result: the listener's steps share those copies
            assertEquals(4, steps.size());
            assertEquals(4, r.x0hatPerStep().size());
            for (int k = 0; k < 4; k++) {
                assertTrue(steps.get(k).hasX0hat());
                assertArrayEquals(r.x0hatPerStep().get(k), steps.get(k).x0hat());
            }
            List<StepProgress> unasked = new java.util.ArrayList<>();
            p.generate(p.resolve(request("a red circle", SamplerKind.GE, 3)), null, new TextToImage.Options(null, false, unasked::add));
            assertEquals(3, unasked.size());
            for (StepProgress s : unasked) {
                assertFalse(s.hasX0hat(), "step " + s.step() + ": nobody asked, nothing was copied");
                IllegalStateException e = assertThrows(IllegalStateException.class, s::x0hat);
                assertEquals("x0-hat of step " + s.step() + " was not copied during its step callback", e.getMessage());
            }
            List<StepProgress> asked = new java.util.ArrayList<>();
            p.generate(p.resolve(request("a red circle", SamplerKind.GE, 3)), null, new TextToImage.Options(null, false, s -> {
                if (s.step() == 2) {
                    assertEquals(3 * 64 * 64, s.x0hat().length);
                }
                return asked.add(s);
            }));
            assertEquals(List.of(false, true, false), asked.stream().map(StepProgress::hasX0hat).toList());
        }
    }
}
