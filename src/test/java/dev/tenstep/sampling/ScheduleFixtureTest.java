package dev.tenstep.sampling;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.model.config.Configs;
import dev.tenstep.model.config.SchedulerConfig;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Iterator;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Fixture cases 5 (schedule), 6 (pipeline_ddim timesteps) and 7 (sigma_sampler sigmas/timesteps). */
class ScheduleFixtureTest {

    static SchedulerConfig config(String fixture) {
        return Configs.read(Fixtures.dir(fixture).resolve("scheduler/scheduler_config.json"), SchedulerConfig.class);
    }

    static NDArray doubles(NDManager m, double[] a) {
        return m.create(a, new Shape(a.length));
    }

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21, Fixtures.SDXL})
    void trainingTablesMatchCase5(String fixture) throws Exception {
        NoiseSchedule ns = NoiseSchedule.of(config(fixture));
        assertEquals(1000, ns.numTrainTimesteps());
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(fixture, "schedule.safetensors"), m);
            NDArray ac = m.create(ns.alphaBars());
            Allclose.assertClose(fixture + " alphas_cumprod", ref.get("alphas_cumprod"), ac,
                    Fixtures.tolerance(fixture, "schedule", "alphas_cumprod"));
            Allclose.assertClose(fixture + " sigmas", ref.get("sigmas"), doubles(m, ns.sigmas()).toType(ai.djl.ndarray.types.DataType.FLOAT32, false),
                    Fixtures.tolerance(fixture, "schedule", "sigmas"));
            // also the stricter check against the exact float32 table: our float32 emulation is within 1 ulp-ish
            float[] e = ref.get("alphas_cumprod").toFloatArray();
            float[] a = ns.alphaBars();
            double worst = 0;
            for (int i = 0; i < e.length; i++) {
                worst = Math.max(worst, Math.abs(a[i] / (double) e[i] - 1));
            }
            System.out.printf("[schedule] %s alphas_cumprod max rel dev %.3e%n", fixture, worst);
            assertTrue(worst < 1e-6, "alphas_cumprod max rel dev " + worst);
        }
        // SAMPLERS.md section 1 reference values for SD
        assertEquals(0.0292, ns.sigma(0), 5e-5);
        assertEquals(14.6146, ns.sigma(999), 5e-4);
        assertEquals(ns.alphaBar(0), ns.finalAlphaBar(), 0.0); // set_alpha_to_one false
    }

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21, Fixtures.SDXL})
    void timestepOfTableSigmasIsExactInteger(String fixture) {
        NoiseSchedule ns = NoiseSchedule.of(config(fixture));
        for (int t = 0; t < 1000; t++) {
            assertEquals(t, ns.timestepOf(ns.sigma(t)), 0.0, "t = " + t);
        }
        assertEquals(0.0, ns.timestepOf(0.0), 0.0);
        assertEquals(0.0, ns.timestepOf(1e-6), 0.0);
        assertEquals(999.0, ns.timestepOf(1e6), 0.0);
        double mid = Math.exp(0.5 * (Math.log(ns.sigma(436)) + Math.log(ns.sigma(437))));
        assertEquals(436.5, ns.timestepOf(mid), 1e-9);
    }

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21, Fixtures.SDXL})
    void pipelineDdimTimestepsExact(String fixture) throws Exception {
        SchedulerConfig cfg = config(fixture);
        NoiseSchedule ns = NoiseSchedule.of(cfg);
        SigmaSchedule s = ScheduleKind.DDIM.build(ns, 10, cfg.stepsOffset());
        try (NDManager m = NDManager.newBaseManager();
             SafeTensors st = SafeTensors.open(Fixtures.reference(fixture, "pipeline_ddim.safetensors"))) {
            NDArray expected = st.load(m, "timesteps");
            Allclose.assertExact(fixture + " pipeline_ddim.timesteps", expected, doubles(m, s.timesteps()));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21, Fixtures.SDXL})
    void sigmaSamplerRunSchedulesMatchCase7(String fixture) throws Exception {
        SchedulerConfig cfg = config(fixture);
        NoiseSchedule ns = NoiseSchedule.of(cfg);
        JsonNode runs = Fixtures.caseById(fixture, "sigma_sampler").get("runs");
        int count = 0;
        try (NDManager m = NDManager.newBaseManager();
             SafeTensors st = SafeTensors.open(Fixtures.reference(fixture, "sigma_sampler.safetensors"))) {
            for (Iterator<Map.Entry<String, JsonNode>> it = runs.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> run = it.next();
                String name = run.getKey();
                JsonNode r = run.getValue();
                SigmaSchedule s = ScheduleKind.byName(r.get("schedule").asText()).build(ns, 10, cfg.stepsOffset());
                assertEquals(r.get("schedule").asText(), s.name());
                // the run's sampler parameters are valid for our Sampler
                new Sampler(r.get("gamma").asDouble(), r.get("mu").asDouble());
                Allclose.assertClose(fixture + " " + name + ".sigmas", st.load(m, name + ".sigmas"),
                        doubles(m, s.sigmas()).toType(ai.djl.ndarray.types.DataType.FLOAT32, false),
                        Fixtures.tolerance(fixture, "sigma_sampler", name + ".sigmas"));
                Allclose.assertClose(fixture + " " + name + ".timesteps", st.load(m, name + ".timesteps"),
                        doubles(m, s.timesteps()).toType(ai.djl.ndarray.types.DataType.FLOAT32, false),
                        Fixtures.tolerance(fixture, "sigma_sampler", name + ".timesteps"));
                if (r.has("train_indices")) {
                    JsonNode idx = r.get("train_indices");
                    assertEquals(11, idx.size());
                    for (int k = 0; k < 10; k++) {
                        assertEquals(idx.get(k).asDouble(), s.timestep(k), 0.0, name + " timestep " + k);
                        assertEquals(ns.sigma(idx.get(k).asInt()), s.sigma(k), 0.0, name + " sigma " + k);
                    }
                    assertEquals(ns.sigma(idx.get(10).asInt()), s.sigma(10), 0.0, name + " final sigma");
                }
                count++;
            }
        }
        // the SD fixtures have nine runs, tiny-sdxl the three of its case 11
        assertEquals(fixture.equals(Fixtures.SDXL) ? 3 : 9, count);
    }
}
