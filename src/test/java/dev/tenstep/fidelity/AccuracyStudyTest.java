package dev.tenstep.fidelity;

import dev.tenstep.pipeline.IdealPipeline;
import dev.tenstep.sampling.ideal.IdealModels;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The accuracy study on the exact denoiser of {@code ideal:shapes}, where the measured result is known
 * (docs/fidelity.md): DDIM draws the prompt's colour and shape at every N and guidance scale, while GE
 * (which extrapolates {@code 2 eps_t - eps_prev}) gets few right at N = 5 with CFG 7.5, where the exact
 * denoiser's x0-hat jumps between pictures from one step to the next, and all at N = 20.
 */
class AccuracyStudyTest {
    static final List<String> PROMPTS = List.of("a large blue star on a navy background, top left", "a red circle",
            "a green square", "a yellow triangle");

    @Test
    void onTheExactDenoiserDdimIsRightAndGeLosesAtFiveStepsWithStrongGuidance() {
        AccuracyStudy.Spec spec = new AccuracyStudy.Spec(PROMPTS, "", List.of(0L, 1L, 2L),
                List.of(SamplerSpec.parse("ddim"), SamplerSpec.parse("ge")), List.of(5, 20), List.of(7.5));
        try (IdealPipeline p = IdealPipeline.load(IdealModels.SHAPES)) {
            List<AccuracyStudy.Cell> cells = AccuracyStudy.run(p, spec, null);
            assertEquals(4, cells.size());
            AccuracyStudy.Cell ddim5 = cells.get(0);
            AccuracyStudy.Cell ge5 = cells.get(2);
            AccuracyStudy.Cell ge20 = cells.get(3);
            assertEquals("ddim:ddim", ddim5.sampler().toString());
            assertEquals(12, ddim5.total());
            assertEquals(12, ddim5.bothRight(), "DDIM at N = 5");
            assertEquals(12, cells.get(1).bothRight(), "DDIM at N = 20");
            assertTrue(ge5.bothRight() <= 2, "GE at N = 5, CFG 7.5 (measured 0 of 12): " + ge5);
            assertEquals(12, ge20.bothRight(), "GE at N = 20");
            String table = AccuracyStudy.markdown(spec, cells);
            assertTrue(table.contains("| 7.5 | 5 | 100% (12/12) |"), table);
        }
    }

    @Test
    void aPromptOutsideTheGrammarIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new AccuracyStudy.Spec(
                List.of("a lighthouse at dusk"), "", List.of(0L), List.of(SamplerSpec.parse("ge")), List.of(10), List.of(7.5)));
        assertTrue(e.getMessage().contains("'a lighthouse at dusk'"), e.getMessage());
    }

    /**
     * {@code ge:log-linear:1} is DDIM on the log-linear schedule (paper eq. (12) with gamma 1): where GE at its
     * default gamma 2 gets few pictures right (N = 5, CFG 7.5), gamma 1 gets all 12, as DDIM does.
     */
    @Test
    void gammaReachesTheSampler() {
        AccuracyStudy.Spec spec = new AccuracyStudy.Spec(PROMPTS, "", List.of(0L, 1L, 2L),
                List.of(SamplerSpec.parse("ge:log-linear:1"), SamplerSpec.parse("ge:log-linear")), List.of(5), List.of(7.5));
        try (IdealPipeline p = IdealPipeline.load(IdealModels.SHAPES)) {
            List<AccuracyStudy.Cell> cells = AccuracyStudy.run(p, spec, null);
            assertEquals("ge:log-linear:1.0", cells.get(0).sampler().label());
            assertEquals(12, cells.get(0).bothRight(), "GE with gamma 1 = DDIM: " + cells.get(0));
            assertTrue(cells.get(1).bothRight() <= 2, "GE with gamma 2: " + cells.get(1));
        }
    }

    @Test
    void aGammaIsParsedAndCheckedByTheSampler() {
        assertEquals(1.5, SamplerSpec.parse("ge:log-linear:1.5").gamma());
        assertEquals(null, SamplerSpec.parse("ge:log-linear").gamma());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SamplerSpec.parse("ddim:ddim:1.5")).getMessage()
                .contains("DDIM has no gradient-estimation weight gamma"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SamplerSpec.parse("ge:log-linear:11")).getMessage()
                .contains("gamma must be between 1.0 and 10.0, got 11.0"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SamplerSpec.parse("ge:log-linear:x")).getMessage()
                .contains("gamma must be a number, got 'x'"));
    }
}
