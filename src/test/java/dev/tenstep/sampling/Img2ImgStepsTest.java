package dev.tenstep.sampling;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The step rules of img2img and the hires fix, their refusals, and add_noise in the sampler's coordinates. */
class Img2ImgStepsTest {

    @Test
    void diffusersRuleRunsIntOfStepsTimesStrength() {
        // the fixture's rows: 0.6 -> from 4, 6 steps; 1.0 -> from 0; 0.1 -> from 9, 1 step
        assertEquals(new Img2ImgSteps.Span(10, 4), Img2ImgSteps.DIFFUSERS.span(10, 0.6));
        assertEquals(new Img2ImgSteps.Span(10, 0), Img2ImgSteps.DIFFUSERS.span(10, 1.0));
        assertEquals(new Img2ImgSteps.Span(10, 9), Img2ImgSteps.DIFFUSERS.span(10, 0.1));
        // int() truncates: 0.75 at 10 steps runs 7
        assertEquals(7, Img2ImgSteps.DIFFUSERS.span(10, 0.75).steps());
        assertEquals(1, Img2ImgSteps.DIFFUSERS.span(3, 0.334).steps());
    }

    @Test
    void a1111RuleRunsOneStepMoreAndNeverNone() {
        assertEquals(new Img2ImgSteps.Span(10, 3), Img2ImgSteps.A1111.span(10, 0.6));
        // strength 1 is capped at 0.999: t_enc 9, ten steps from index 0
        assertEquals(new Img2ImgSteps.Span(10, 0), Img2ImgSteps.A1111.span(10, 1.0));
        assertEquals(new Img2ImgSteps.Span(10, 8), Img2ImgSteps.A1111.span(10, 0.1));
        assertEquals(new Img2ImgSteps.Span(10, 9), Img2ImgSteps.A1111.span(10, 0.0));
        assertNull(Img2ImgSteps.A1111.problem(10, 0.05));
    }

    @Test
    void strengthBelowOneStepIsRefusedNamingTheLeastStrength() {
        assertEquals("runs no step at 10 steps: the diffusers rule runs int(steps x strength) = int(10 x 0.05) = 0 steps; "
                        + "use a strength of at least 1/steps (0.1), more steps, or the a1111 step rule, got 0.05",
                Img2ImgSteps.DIFFUSERS.problem(10, 0.05));
        assertTrue(Img2ImgSteps.DIFFUSERS.problem(30, 0.03).contains("(0.0334)"));
        assertEquals(1, Img2ImgSteps.DIFFUSERS.span(30, 0.0334).steps(), "the least strength named runs one step");
        assertThrows(IllegalArgumentException.class, () -> Img2ImgSteps.DIFFUSERS.span(10, 0.0));
        assertThrows(IllegalArgumentException.class, () -> Img2ImgSteps.DIFFUSERS.span(10, 1.5));
    }

    @Test
    void fixedStepsRuleOfTheHiresFix() {
        // the fixture's hires pass: 10 steps at 0.7 on a 14-step schedule from index 4
        assertEquals(new Img2ImgSteps.Span(14, 4), Img2ImgSteps.fixedSteps(10, 0.7));
        assertEquals(new Img2ImgSteps.Span(10, 0), Img2ImgSteps.fixedSteps(10, 1.0), "1 is capped at 0.999: int(10.01)");
        assertEquals(new Img2ImgSteps.Span(40, 20), Img2ImgSteps.fixedSteps(20, 0.5));
        assertThrows(IllegalArgumentException.class, () -> Img2ImgSteps.fixedSteps(10, 0.0));
    }

    @Test
    void parseNamesTheValidRules() {
        assertEquals(Img2ImgSteps.A1111, Img2ImgSteps.parse(" A1111 "));
        assertEquals("unknown img2img step rule 'x' (valid: diffusers, a1111)",
                assertThrows(IllegalArgumentException.class, () -> Img2ImgSteps.parse("x")).getMessage());
    }

    @Test
    void tailKeepsTheLastLevels() {
        SigmaSchedule s = new SigmaSchedule(new double[] {4, 2, 1, 0.5, 0}, new double[] {900, 600, 300, 100}, "t");
        SigmaSchedule t = s.tail(2);
        assertArrayEquals(new double[] {1, 0.5, 0}, t.sigmas());
        assertArrayEquals(new double[] {300, 100}, t.timesteps());
        assertTrue(s.tail(0) == s);
        assertThrows(IllegalArgumentException.class, () -> s.tail(4));
    }

    /** add_noise: z = sqrt(abar) init + sqrt(1 - abar) noise, so the sampler's x = z sqrt(1 + s^2) = init + s noise. */
    @Test
    void addNoiseIsDiffusersAddNoiseInZCoordinates() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray init = m.create(new float[] {1f, -2f});
            NDArray noise = m.create(new float[] {0.5f, 3f});
            double sigma = 2.0;
            double abar = 1 / (1 + sigma * sigma);
            float[] z = Img2ImgSteps.addNoise(init, noise, sigma).toFloatArray();
            assertEquals(Math.sqrt(abar) * 1 + Math.sqrt(1 - abar) * 0.5, z[0], 1e-6);
            assertEquals(Math.sqrt(abar) * -2 + Math.sqrt(1 - abar) * 3, z[1], 1e-6);
            assertEquals(-2 + sigma * 3, z[1] * Math.sqrt(1 + sigma * sigma), 1e-5);
        }
    }

    /** Every generator's second draw continues its stream (tenstep: a stream of its own, not the first again). */
    @Test
    void secondDrawFollowsTheFirst() {
        PhiloxRandom p = new PhiloxRandom(9);
        p.randn(16);
        assertArrayEquals(p.randn(16), RngKind.PHILOX.secondDraw(9, 16));
        float[] first = RngKind.TENSTEP.initialDraw(9, 16);
        float[] second = RngKind.TENSTEP.secondDraw(9, 16);
        assertTrue(first[0] != second[0] && first[1] != second[1]);
        try (NDManager m = NDManager.newBaseManager()) {
            RngKind.SeedNoise n = RngKind.TENSTEP.open(9);
            assertArrayEquals(first, n.initial(m, new ai.djl.ndarray.types.Shape(16)).toFloatArray());
            assertArrayEquals(second, n.next(m, new ai.djl.ndarray.types.Shape(16)).toFloatArray());
        }
    }
}
