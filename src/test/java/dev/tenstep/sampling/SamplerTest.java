package dev.tenstep.sampling;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.model.config.Configs;
import dev.tenstep.model.config.SchedulerConfig;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The sampler loop algebra without the UNet: the NDArray loop against an independent, literal double-precision
 * transcription of the SAMPLERS.md section 3 pseudo-code, and DDIM (gamma 1, ddim schedule) against
 * diffusers' z-space DDIM update, both with deterministic dummy models.
 */
class SamplerTest {
    static final Shape LATENT = new Shape(1, 4, 16, 16);
    static final int SIZE = (int) LATENT.size();

    static NoiseSchedule sd() {
        return NoiseSchedule.of(Configs.read(Fixtures.configs().resolve("stable-diffusion-v1-5/scheduler/scheduler_config.json"),
                SchedulerConfig.class));
    }

    /** A fixed pseudo-random "structure" tensor F (not Gaussian on purpose: a different generator than the one tested). */
    static float[] fixedF(int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            f[i] = fval(i);
        }
        return f;
    }

    static float fval(int i) {
        return (float) Math.sin(0.37 * i + 1.3) * 0.8f;
    }

    static final float[] F = fixedF(SIZE);

    /** Dummy eps model in VE coordinates: eps = 0.1 x + F (1 + t/1000) + 0.05 sigma. */
    static Denoiser dummy(NDManager keep) {
        // everything is created in x's manager (the sampler's per-step manager): the latent stays on the left
        return (x, sigma, t) -> x.mul(0.1f).add(x.getManager().create(F, LATENT).mul((float) (1 + t / 1000)))
                .add((float) (0.05 * sigma));
    }

    static double dummyD(double x, int i, double sigma, double t) {
        return 0.1 * x + (double) F[i] * (1 + t / 1000) + 0.05 * sigma;
    }

    /**
     * SAMPLERS.md section 3, transcribed literally in double with the document's indexing
     * (s_N the highest level, loop i = N .. 1). {@code noise[i]} is w_i. Records x0hat and x per iteration.
     */
    static double[] referenceLoop(double[] zInit, double[] sDesc, double[] tDesc, double gamma, double mu,
                                  double[][] noiseByI, List<double[]> x0hats, List<double[]> xs) {
        int n = sDesc.length - 1;
        double[] s = new double[n + 1]; // s[i] ascending document indexing: s[N] = sDesc[0]
        double[] t = new double[n + 1];
        for (int i = 0; i <= n; i++) {
            s[i] = sDesc[n - i];
            if (i >= 1) {
                t[i] = tDesc[n - i];
            }
        }
        double[] x = new double[zInit.length];
        for (int j = 0; j < x.length; j++) {
            x[j] = zInit[j] * Math.sqrt(1 + s[n] * s[n]);
        }
        double[] epsPrev = null;
        for (int i = n; i >= 1; i--) {
            double[] eps = new double[x.length];
            for (int j = 0; j < x.length; j++) {
                eps[j] = dummyD(x[j], j, s[i], t[i]);
            }
            double sP = Math.pow(s[i - 1] / Math.pow(s[i], mu), 1 / (1 - mu));
            double noise = Math.sqrt(Math.max(0, s[i - 1] * s[i - 1] - sP * sP));
            double[] x0 = new double[x.length];
            for (int j = 0; j < x.length; j++) {
                double epsBar = epsPrev == null ? eps[j] : gamma * eps[j] + (1 - gamma) * epsPrev[j];
                x0[j] = x[j] - s[i] * epsBar;
                x[j] = x[j] + (sP - s[i]) * epsBar + (noise > 0 ? noise * noiseByI[i][j] : 0);
            }
            x0hats.add(x0);
            xs.add(x.clone());
            epsPrev = eps;
        }
        double[] z = new double[x.length];
        for (int j = 0; j < x.length; j++) {
            z[j] = x[j] / Math.sqrt(1 + s[0] * s[0]);
        }
        return z;
    }

    static double[] toD(float[] a) {
        double[] r = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            r[i] = a[i];
        }
        return r;
    }

    static void assertClose(String label, double[] expected, NDArray actual) {
        double max = 0;
        for (double v : expected) {
            max = Math.max(max, Math.abs(v));
        }
        try (NDManager m = NDManager.newBaseManager()) {
            Allclose.assertClose(label, m.create(expected, actual.getShape()), actual, 1e-5 * Math.max(1, max), 1e-4);
        }
    }

    @ParameterizedTest(name = "{0} gamma {1} mu {2}")
    @CsvSource({"log-linear,1,0", "log-linear,2,0", "log-linear,1,0.5", "log-linear,2,0.5",
            "karras,2,0", "karras,1,0.5", "trailing,2,0.5", "log-linear-continuous,2,0", "ddim,1,0.5"})
    void loopMatchesLiteralDoubleTranscription(String schedule, double gamma, double mu) {
        NoiseSchedule ns = sd();
        SigmaSchedule s = ScheduleKind.byName(schedule).build(ns, 10, 1);
        long seed = 1234;
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray zInit = SeededRandom.latent(seed, m, LATENT);
            double[][] noiseByI = new double[11][];
            for (int k = 0; k < 10; k++) {
                noiseByI[10 - k] = toD(new SeededRandom(seed, k + 1).nextGaussians(SIZE)); // w_i of step k, i = N - k
            }
            List<double[]> x0ref = new ArrayList<>();
            List<double[]> xref = new ArrayList<>();
            double[] zRef = referenceLoop(toD(zInit.toFloatArray()), s.sigmas(), s.timesteps(), gamma, mu, noiseByI, x0ref, xref);
            AtomicInteger calls = new AtomicInteger();
            String tag = schedule + " g" + gamma + " mu" + mu;
            NDArray z = new Sampler(gamma, mu).sample(dummy(m), zInit, s, NoiseSource.seeded(seed), e -> {
                assertEquals(calls.getAndIncrement(), e.index());
                assertEquals(10, e.total());
                assertEquals(s.sigma(e.index()), e.sigma(), 0.0);
                assertEquals(s.sigma(e.index() + 1), e.sigmaNext(), 0.0);
                assertEquals(s.timestep(e.index()), e.timestep(), 0.0);
                assertClose(tag + " x0hat[" + e.index() + "]", x0ref.get(e.index()), e.x0hat());
                assertClose(tag + " x[" + e.index() + "]", xref.get(e.index()), e.x());
                return true;
            });
            assertEquals(10, calls.get());
            assertClose(tag + " zFinal", zRef, z);
            assertEquals(LATENT, z.getShape());
            // the sampler leaves zInit untouched
            assertClose(tag + " zInit unchanged", toD(SeededRandom.latent(seed, m, LATENT).toFloatArray()), zInit);
        }
    }

    /** The fixture's saved DDPM noise drives the loop through NoiseSource.fromTensor. */
    @Test
    void fixtureNoiseTensorDrivesStochasticRun() throws Exception {
        String fx = Fixtures.SD15;
        NoiseSchedule ns = NoiseSchedule.of(ScheduleFixtureTest.config(fx));
        SigmaSchedule s = ScheduleKind.TRAILING.build(ns, 10);
        try (NDManager m = NDManager.newBaseManager();
             SafeTensors st = SafeTensors.open(Fixtures.reference(fx, "sigma_sampler.safetensors"))) {
            NDArray zInit = st.load(m, "initial_latents");
            NDArray noise = st.load(m, "i_trailing_ddpm.noise_per_step");
            assertEquals(new Shape(10, 1, 4, 16, 16), noise.getShape());
            double[][] noiseByI = new double[11][];
            for (int k = 0; k < 10; k++) {
                noiseByI[10 - k] = toD(noise.get(k).toFloatArray());
            }
            List<double[]> x0ref = new ArrayList<>();
            double[] zRef = referenceLoop(toD(zInit.toFloatArray()), s.sigmas(), s.timesteps(), 1, 0.5, noiseByI,
                    x0ref, new ArrayList<>());
            List<float[]> x0hats = new ArrayList<>();
            List<float[]> xs = new ArrayList<>();
            NDArray z = SamplerKind.DDPM.sampler().sample(dummy(m), zInit, s, NoiseSource.fromTensor(noise),
                    StepListener.recording(x0hats, xs));
            assertClose("fixture-noise ddpm zFinal", zRef, z);
            assertEquals(10, x0hats.size());
            assertEquals(10, xs.size());
            assertClose("fixture-noise ddpm x0hat[9]", x0ref.get(9), m.create(x0hats.get(9), LATENT));
        }
    }

    /** A dummy UNet: out = 0.1 z + F (1 + t/1000) + 0.2 mean(context row b); records batch sizes. */
    static ModelFn dummyUnet(NDManager keep, List<Long> batchSizes) {
        return (zb, t, ctx) -> {
            long b = zb.getShape().get(0);
            batchSizes.add(b);
            assertEquals(b, ctx.getShape().get(0));
            float[] rowMean = rowMeans(ctx);
            NDManager zm = zb.getManager();
            Shape per = new Shape(1, zb.getShape().get(1), zb.getShape().get(2), zb.getShape().get(3));
            NDArray f = zm.create(fixedF((int) per.size()), per).mul(1 + t / 1000f);
            NDArray rm = zm.create(rowMean, new Shape(b, 1, 1, 1)).mul(0.2f);
            return zb.mul(0.1f).add(f).add(rm);
        };
    }

    static float[] rowMeans(NDArray ctx) {
        int b = (int) ctx.getShape().get(0);
        float[] all = ctx.toFloatArray();
        int per = all.length / b;
        float[] r = new float[b];
        for (int i = 0; i < b; i++) {
            double acc = 0;
            for (int j = 0; j < per; j++) {
                acc += all[i * per + j];
            }
            r[i] = (float) (acc / per);
        }
        return r;
    }

    static double dummyUnetD(double z, int j, double t, double ctxMean) {
        return 0.1 * z + (double) fval(j) * (1 + t / 1000) + 0.2 * ctxMean;
    }

    /**
     * SAMPLERS.md section 3: gamma 1 on the ddim schedule is diffusers' DDIM (eta 0) in z-coordinates:
     * {@code x0 = (z - sqrt(1-a_t) eps) / sqrt(a_t)} (or from v), {@code z = sqrt(a_prev) x0 + sqrt(1-a_prev) eps}.
     */
    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21})
    void ddimPresetEqualsDiffusersDdimUpdate(String fx) throws Exception {
        SchedulerConfig cfg = ScheduleFixtureTest.config(fx);
        NoiseSchedule ns = NoiseSchedule.of(cfg);
        boolean v = cfg.isVPrediction();
        assertEquals(fx.equals(Fixtures.SD21), v);
        SigmaSchedule s = ScheduleKind.DDIM.build(ns, 10, cfg.stepsOffset());
        double w = 7.5;
        try (NDManager m = NDManager.newBaseManager();
             SafeTensors st = SafeTensors.open(Fixtures.reference(fx, "sigma_sampler.safetensors"))) {
            NDArray zInit = st.load(m, "initial_latents");
            NDArray ctx = st.load(m, "prompt_embeds");
            double[] ctxMean = toD(rowMeans(ctx));
            List<Long> batches = new ArrayList<>();
            NDArray z = SamplerKind.DDIM.sampler().sample(new CfgDenoiser(dummyUnet(m, batches), ctx, w, ns), zInit, s,
                    null, null);
            assertEquals(10, batches.size());
            assertTrue(batches.stream().allMatch(b -> b == 2), "guided runs use a batch of 2: " + batches);

            // diffusers DDIMScheduler.step, eta 0, in double
            double[] lat = toD(zInit.toFloatArray());
            int ratio = 1000 / 10;
            for (int k = 0; k < 10; k++) {
                int t = (int) s.timestep(k);
                double at = ns.alphaBar(t);
                int prev = t - ratio;
                double ap = prev >= 0 ? ns.alphaBar(prev) : ns.finalAlphaBar();
                for (int j = 0; j < lat.length; j++) {
                    double u = dummyUnetD(lat[j], j, t, ctxMean[0]);
                    double c = dummyUnetD(lat[j], j, t, ctxMean[1]);
                    double g = u + w * (c - u);
                    double x0;
                    double eps;
                    if (v) {
                        x0 = Math.sqrt(at) * lat[j] - Math.sqrt(1 - at) * g;
                        eps = Math.sqrt(at) * g + Math.sqrt(1 - at) * lat[j];
                    } else {
                        eps = g;
                        x0 = (lat[j] - Math.sqrt(1 - at) * eps) / Math.sqrt(at);
                    }
                    lat[j] = Math.sqrt(ap) * x0 + Math.sqrt(1 - ap) * eps;
                }
            }
            assertClose(fx + " DDIM (sigma space) vs diffusers DDIM (z space)", lat, z);
        }
    }

    @Test
    void cfgDenoiserCombinesHalvesForEveryScaleAndSkipsUnconditionalOnlyAtOne() {
        NoiseSchedule ns = sd();
        try (NDManager m = NDManager.newBaseManager()) {
            float[] c = new float[2 * 77 * 8];
            for (int i = 0; i < c.length; i++) {
                c[i] = i < c.length / 2 ? -0.5f + 0.001f * (i % 7) : 1.5f - 0.002f * (i % 5);
            }
            NDArray ctx = m.create(c, new Shape(2, 77, 8));
            double[] ctxMean = toD(rowMeans(ctx));
            NDArray x = SeededRandom.latent(5, m, LATENT).mul(3f);
            double sigma = 2.5;
            double t = ns.timestepOf(sigma);
            double[] xd = toD(x.toFloatArray());
            for (boolean vPred : new boolean[] {false, true}) {
                for (double w : new double[] {7.5, 1.0, 0.5, 0.0}) {
                    List<Long> batches = new ArrayList<>();
                    NDArray eps = new CfgDenoiser(dummyUnet(m, batches), ctx, w, vPred).eps(x, sigma, t);
                    assertEquals(List.of(w != 1 ? 2L : 1L), batches, "batch for w = " + w);
                    double[] expected = new double[SIZE];
                    double abar = 1 / (1 + sigma * sigma);
                    for (int j = 0; j < SIZE; j++) {
                        double zj = xd[j] / Math.sqrt(1 + sigma * sigma);
                        double u = dummyUnetD(zj, j, (float) t, ctxMean[0]);
                        double cc = dummyUnetD(zj, j, (float) t, ctxMean[1]);
                        double g = u + w * (cc - u);
                        if (vPred) {
                            // per half, then guidance: identical because the conversion is affine
                            double eu = Math.sqrt(abar) * u + Math.sqrt(1 - abar) * zj;
                            double ec = Math.sqrt(abar) * cc + Math.sqrt(1 - abar) * zj;
                            g = eu + w * (ec - eu);
                        }
                        expected[j] = g;
                    }
                    assertClose("cfg v=" + vPred + " w=" + w, expected, eps);
                    assertEquals(x.getManager(), eps.getManager());
                }
            }
            assertThrows(IllegalArgumentException.class, () -> new CfgDenoiser(dummyUnet(m, new ArrayList<>()),
                    ctx.get(0), 7.5, false));
        }
    }

    @Test
    void listenerCancelsAndMemoryStaysBounded() {
        NoiseSchedule ns = sd();
        SigmaSchedule s = ScheduleKind.LOG_LINEAR.build(ns, 20);
        try (NDManager m = NDManager.newBaseManager()) {
            Denoiser d = dummy(m);
            NDArray zInit = SeededRandom.latent(9, m, LATENT);
            int base = m.getManagedArrays().size();
            List<Integer> live = new ArrayList<>();
            NDArray z = SamplerKind.GE.sampler().sample(d, zInit, s, null, e -> {
                live.add(m.getManagedArrays().size());
                return true;
            });
            // per step the live set is constant: it does not grow with the step index
            assertEquals(20, live.size());
            for (int k = 2; k < live.size(); k++) {
                assertEquals(live.get(1), live.get(k), "live arrays at step " + k + ": " + live);
            }
            // after the run only zFinal was added to the caller's manager
            assertEquals(base + 1, m.getManagedArrays().size());
            assertEquals(m, z.getManager());

            AtomicInteger seen = new AtomicInteger();
            CancellationException ce = assertThrows(CancellationException.class,
                    () -> SamplerKind.GE.sampler().sample(d, zInit, s, null, e -> seen.incrementAndGet() < 3));
            assertTrue(ce.getMessage().contains("step 3 of 20"), ce.getMessage());
            assertEquals(3, seen.get());
            assertEquals(base + 1, m.getManagedArrays().size(), "a cancelled run frees its arrays");

            // mu > 0 without a noise source fails clearly
            IllegalStateException ise = assertThrows(IllegalStateException.class,
                    () -> SamplerKind.DDPM.sampler().sample(d, zInit, s, null, null));
            assertTrue(ise.getMessage().contains("noise"), ise.getMessage());
        }
    }

    /**
     * Every method tells the denoiser each step before evaluating it (A1111 prompt editing switches the
     * conditioning there; DPM++ 2M once skipped it, so edited prompts kept their first conditioning), and
     * its live set of arrays does not grow with the steps.
     */
    @Test
    void everyMethodAnnouncesEachStepToTheDenoiser() {
        NoiseSchedule ns = sd();
        for (SamplerKind kind : SamplerKind.values()) {
            SigmaSchedule s = kind.defaultSchedule().build(ns, 6);
            try (NDManager m = NDManager.newBaseManager()) {
                List<String> calls = new ArrayList<>();
                Denoiser base = dummy(m);
                Denoiser d = new Denoiser() {
                    @Override
                    public void beginStep(int k) {
                        calls.add("begin " + k);
                    }

                    @Override
                    public NDArray eps(NDArray x, double sigma, double t) {
                        calls.add("eps");
                        return base.eps(x, sigma, t);
                    }
                };
                NDArray zInit = SeededRandom.latent(9, m, LATENT);
                List<Integer> live = new ArrayList<>();
                kind.sampler().sample(d, zInit, s, NoiseSource.seeded(3), e -> {
                    live.add(m.getManagedArrays().size());
                    return true;
                });
                assertEquals(List.of("begin 0", "eps", "begin 1", "eps", "begin 2", "eps", "begin 3", "eps", "begin 4", "eps",
                        "begin 5", "eps"), calls, kind.id());
                // the live set does not grow with the step index (a final level 0 may need fewer arrays)
                for (int k = 2; k < live.size(); k++) {
                    assertTrue(live.get(k) <= live.get(1), kind.id() + " live arrays at step " + k + ": " + live);
                }
            }
        }
    }

    /**
     * Each kind makes its own sampler: DDIM, GE and DDPM are points (gamma, mu) of the one loop, DPM++ 2M its own
     * solver; only GE takes a gamma, and a gamma given to another kind is refused, never ignored.
     */
    @Test
    void eachKindMakesItsOwnSamplerAndOnlyGeHasGamma() {
        Sampler ddim = (Sampler) SamplerKind.DDIM.sampler();
        assertEquals(List.of(1.0, 0.0), List.of(ddim.gamma(), ddim.mu()));
        Sampler ge = (Sampler) SamplerKind.GE.sampler();
        assertEquals(List.of(2.0, 0.0), List.of(ge.gamma(), ge.mu()));
        assertEquals(1.5, ((Sampler) SamplerKind.GE.sampler(1.5)).gamma());
        Sampler ddpm = (Sampler) SamplerKind.DDPM.sampler();
        assertEquals(List.of(1.0, 0.5), List.of(ddpm.gamma(), ddpm.mu()));
        assertTrue(ddpm.stochastic());
        assertTrue(SamplerKind.DPMPP_2M.sampler() instanceof DpmSolverPlusPlus2M);
        assertEquals(List.of(SamplerKind.GE), java.util.Arrays.stream(SamplerKind.values()).filter(SamplerKind::hasGamma).toList());
        for (SamplerKind k : List.of(SamplerKind.DDIM, SamplerKind.DDPM, SamplerKind.DPMPP_2M)) {
            assertTrue(k.defaultGamma().isEmpty(), k.id());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> k.sampler(1.0));
            assertEquals(k.displayName() + " has no gradient-estimation weight gamma (got 1.0)", e.getMessage());
        }
        IllegalArgumentException range = assertThrows(IllegalArgumentException.class, () -> SamplerKind.GE.sampler(0.5));
        assertEquals("gamma must be between 1.0 and 10.0, got 0.5", range.getMessage());
        assertThrows(IllegalArgumentException.class, () -> SamplerKind.GE.sampler(Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> SamplerKind.GE.sampler(10.5));
    }
}
