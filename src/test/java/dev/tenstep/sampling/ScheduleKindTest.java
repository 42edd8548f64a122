package dev.tenstep.sampling;

import dev.tenstep.model.config.Configs;
import dev.tenstep.model.config.SchedulerConfig;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ScheduleKind against SAMPLERS.md section 4 with the real SD 1.5 scheduler config. */
class ScheduleKindTest {
    static SchedulerConfig sdConfig() {
        return Configs.read(Fixtures.configs().resolve("stable-diffusion-v1-5/scheduler/scheduler_config.json"),
                SchedulerConfig.class);
    }

    static double[] d(int... v) {
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            r[i] = v[i];
        }
        return r;
    }

    @Test
    void logLinearTimestepsOfSamplersMd() {
        NoiseSchedule ns = NoiseSchedule.of(sdConfig());
        assertArrayEquals(d(901, 760, 588, 388, 200), ScheduleKind.LOG_LINEAR.build(ns, 5).timesteps());
        assertArrayEquals(d(901, 830, 751, 663, 566, 461, 353, 252, 166, 100), ScheduleKind.LOG_LINEAR.build(ns, 10).timesteps());
        assertArrayEquals(d(901, 864, 824, 783, 739, 692, 643, 591, 536, 480, 422, 364, 308, 254, 205, 162, 125, 94, 70, 50),
                ScheduleKind.LOG_LINEAR.build(ns, 20).timesteps());
        SigmaSchedule s = ScheduleKind.LOG_LINEAR.build(ns, 10);
        assertEquals(ns.sigma(0), s.sigma(10), 0.0);
        assertEquals(ns.sigma(901), s.sigma(0), 0.0);
    }

    @Test
    void ddimAndTrailingOfSamplersMd() {
        SchedulerConfig cfg = sdConfig();
        NoiseSchedule ns = NoiseSchedule.of(cfg);
        SigmaSchedule ddim = ScheduleKind.DDIM.build(ns, 10, cfg.stepsOffset());
        assertArrayEquals(d(901, 801, 701, 601, 501, 401, 301, 201, 101, 1), ddim.timesteps());
        assertEquals(ddim, ScheduleKind.DDIM.build(ns, 10)); // steps_offset taken from the config by default
        assertEquals(Math.sqrt(1 / ns.finalAlphaBar() - 1), ddim.sigma(10), 1e-14);
        assertEquals(ns.sigma(0), ddim.sigma(10), 0.0);
        SigmaSchedule tr = ScheduleKind.TRAILING.build(ns, 10);
        assertArrayEquals(d(999, 899, 799, 699, 599, 499, 399, 299, 199, 99), tr.timesteps());
        assertEquals(ns.sigma(0), tr.sigma(10), 0.0);
        SigmaSchedule k = ScheduleKind.KARRAS.build(ns, 10);
        assertEquals(14.6146, k.sigma(0), 5e-4);
        assertEquals(0.0292, k.sigma(9), 5e-5);
        assertEquals(0.0, k.sigma(10), 0.0);
        assertEquals(999.0, k.timestep(0), 0.0);
        assertEquals(0.0, k.timestep(9), 0.0);
        SigmaSchedule c = ScheduleKind.LOG_LINEAR_CONTINUOUS.build(ns, 10);
        assertEquals(ns.sigmaMax(), c.sigma(0), 0.0);
        assertEquals(ns.sigmaMin(), c.sigma(10), 0.0);
        assertEquals(999.0, c.timestep(0), 0.0);
    }

    /**
     * A1111's scheduler names: Karras is the same schedule; Exponential and SGM Uniform ran log-linear-continuous and
     * trailing silently (other levels): refused now, naming the docs. The infotext label is A1111's where it is the
     * same, else the id.
     */
    @Test
    void a1111SchedulerNamesAreHonouredOrRefused() {
        assertEquals(ScheduleKind.KARRAS, ScheduleKind.byName("Karras"));
        assertEquals("Karras", ScheduleKind.KARRAS.label());
        assertEquals("log-linear-continuous", ScheduleKind.LOG_LINEAR_CONTINUOUS.label());
        assertEquals("trailing", ScheduleKind.TRAILING.label());
        for (String a1111 : new String[] {"Exponential", "exponential", "SGM Uniform", "sgm_uniform", "Align Your Steps",
                "KL Optimal", "Polyexponential", "Uniform", "Simple", "Normal", "Beta"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ScheduleKind.byName(a1111), a1111);
            assertTrue(e.getMessage().contains("is A1111's") && e.getMessage().contains("docs/web.md"), e.getMessage());
        }
    }

    @Test
    void namesAndLookups() {
        assertEquals(ScheduleKind.LOG_LINEAR_CONTINUOUS, ScheduleKind.byName("log-linear-continuous"));
        assertEquals(ScheduleKind.LOG_LINEAR, ScheduleKind.byName("log_linear"));
        assertEquals("karras", ScheduleKind.KARRAS.id());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ScheduleKind.byName("cosine"));
        assertTrue(e.getMessage().contains("cosine") && e.getMessage().contains("log-linear"), e.getMessage());
        assertEquals(SamplerKind.GE, SamplerKind.byName("GE"));
        assertEquals(java.util.OptionalDouble.of(2.0), SamplerKind.GE.defaultGamma());
        assertEquals(0.5, ((Sampler) SamplerKind.DDPM.sampler()).mu());
        assertThrows(IllegalArgumentException.class, () -> SamplerKind.byName("heun"));
    }

    @Test
    void rejectsBadStepCountsWithClearMessage() {
        NoiseSchedule ns = NoiseSchedule.of(sdConfig());
        for (ScheduleKind sc : ScheduleKind.values()) {
            IllegalArgumentException e0 = assertThrows(IllegalArgumentException.class, () -> sc.build(ns, 0, 1));
            assertTrue(e0.getMessage().contains("steps") && e0.getMessage().contains("got steps = 0"), e0.getMessage());
            IllegalArgumentException e1 = assertThrows(IllegalArgumentException.class, () -> sc.build(ns, 1001, 1));
            assertTrue(e1.getMessage().contains("got steps = 1001") && e1.getMessage().contains("1000"), e1.getMessage());
            assertThrows(IllegalArgumentException.class, () -> sc.build(ns, -3, 1));
        }
        assertThrows(IllegalArgumentException.class, () -> new Sampler(0.5, 0));
        assertThrows(IllegalArgumentException.class, () -> new Sampler(1, 1));
        assertThrows(IllegalArgumentException.class, () -> new Sampler(1, -0.1));
    }

    /**
     * DDIM ("leading" + steps_offset 1) at N = 1000 would start at t = 1000 (past 999); clamped, its first two steps ran
     * at the same sigma (14.615). It is refused, naming the limit; every N up to 999 gives N distinct timesteps.
     */
    @Test
    void ddimRefusesAStepCountThatWouldRepeatASigma() {
        SchedulerConfig cfg = sdConfig();
        NoiseSchedule ns = NoiseSchedule.of(cfg);
        assertEquals(1, cfg.stepsOffset());
        assertEquals(999, ScheduleKind.maxDdimSteps(1000, 1));
        assertEquals(1000, ScheduleKind.maxDdimSteps(1000, 0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ScheduleKind.DDIM.build(ns, 1000));
        assertTrue(e.getMessage().contains("at most 999") && e.getMessage().contains("got steps = 1000"), e.getMessage());
        String problem = ScheduleKind.DDIM.stepsProblem(ns, 1000);
        assertTrue(problem != null && problem.contains("at most 999") && problem.contains("first timestep would be 1000"),
                String.valueOf(problem));
        assertEquals(null, ScheduleKind.DDIM.stepsProblem(ns, 999));
        assertEquals(null, ScheduleKind.TRAILING.stepsProblem(ns, 1000));
        SigmaSchedule s999 = ScheduleKind.DDIM.build(ns, 999);
        assertEquals(999.0, s999.timestep(0), 0.0);
        assertEquals(998.0, s999.timestep(1), 0.0);
        assertEquals(1.0, s999.timestep(998), 0.0);
        for (int n = 1; n <= 999; n++) {
            double[] ts = ScheduleKind.DDIM.build(ns, n).timesteps();
            for (int k = 1; k < n; k++) {
                assertTrue(ts[k] < ts[k - 1], "N = " + n + ": t[" + k + "] = " + ts[k] + " after " + ts[k - 1]);
            }
            assertTrue(ts[0] <= 999, "N = " + n);
        }
        // offset 0 allows N = T: 999 .. 0, distinct
        SigmaSchedule s0 = ScheduleKind.DDIM.build(ns, 1000, 0);
        assertEquals(999.0, s0.timestep(0), 0.0);
        assertEquals(998.0, s0.timestep(1), 0.0);
    }

    /** Every schedule at the extremes N = 1, 2 and N = T is valid (the SigmaSchedule constructor checks order and finiteness). */
    @Test
    void extremeStepCountsAreValidAndFinite() {
        SchedulerConfig cfg = sdConfig();
        NoiseSchedule ns = NoiseSchedule.of(cfg);
        for (ScheduleKind sc : ScheduleKind.values()) {
            for (int n : new int[] {1, 2, 3, 50, 999, 1000}) {
                if ((sc == ScheduleKind.DDIM || sc == ScheduleKind.EULER) && n == 1000) {
                    continue; // refused with steps_offset 1: ddimRefusesAStepCountThatWouldRepeatASigma
                }
                SigmaSchedule s = sc.build(ns, n, cfg.stepsOffset());
                assertEquals(n, s.steps(), sc + " " + n);
                for (double t : s.timesteps()) {
                    assertTrue(t >= 0 && t <= 999, sc + " N=" + n + " t=" + t);
                }
                // the sampler step levels never produce NaN on repeated levels
                for (int k = 0; k < n; k++) {
                    double[] lv = new Sampler(1, 0.5).stepLevels(s.sigma(k), s.sigma(k + 1));
                    assertTrue(Double.isFinite(lv[0]) && Double.isFinite(lv[1]), sc + " N=" + n + " k=" + k);
                }
            }
        }
        // N = T trailing repeats sigma(0) at the end: a zero-length last step
        SigmaSchedule tr = ScheduleKind.TRAILING.build(ns, 1000);
        assertEquals(tr.sigma(999), tr.sigma(1000), 0.0);
        assertEquals(999.0, ScheduleKind.LOG_LINEAR.build(ns, 1).timestep(0), 0.0);
    }

    /**
     * diffusers' EulerDiscreteScheduler with "leading" spacing (tiny-sdxl case 9's sigmas): DDIM's timesteps, their
     * float32 levels, then 0; the sampler is the gamma-1 loop.
     */
    @Test
    void eulerIsLeadingTimestepsEndingAtZero() {
        NoiseSchedule ns = NoiseSchedule.of(sdConfig());
        SigmaSchedule e = ScheduleKind.EULER.build(ns, 10);
        SigmaSchedule d = ScheduleKind.DDIM.build(ns, 10);
        assertArrayEquals(d.timesteps(), e.timesteps());
        assertEquals(901.0, e.timestep(0), 0.0);
        assertEquals(1.0, e.timestep(9), 0.0);
        assertEquals(0.0, e.sigma(10), 0.0, "the last step lands on sigma 0");
        for (int k = 0; k < 10; k++) {
            float a = ns.alphaBar((int) e.timestep(k));
            assertEquals((double) (float) Math.sqrt((1f - a) / a), e.sigma(k), 0.0, "float32 level at k = " + k);
            assertEquals(d.sigma(k), e.sigma(k), 1e-6 * d.sigma(k), "the same level to float precision");
        }
        assertEquals(8.390687, e.sigma(0), 1e-6, "pipeline_euler.sigmas[0] of the README");
        assertEquals(ScheduleKind.EULER, ScheduleKind.byName("euler"));
        assertEquals(ScheduleKind.EULER, SamplerKind.EULER.defaultSchedule());
        assertEquals(SamplerKind.EULER, SamplerKind.byName("Euler"), "A1111's name");
        assertEquals(SamplerKind.EULER, SamplerKind.byName("k_euler"));
        assertThrows(IllegalArgumentException.class, () -> SamplerKind.byName("Euler a"), "ancestral Euler is another sampler");
        Sampler s = (Sampler) SamplerKind.EULER.sampler();
        assertEquals(1.0, s.gamma());
        assertEquals(0.0, s.mu());
        assertTrue(SamplerKind.EULER.defaultGamma().isEmpty());
        assertTrue(ScheduleKind.EULER.stepsProblem(ns, 1000).contains("at most 999"));
    }
}
