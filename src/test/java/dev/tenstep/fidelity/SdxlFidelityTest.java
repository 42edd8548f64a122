package dev.tenstep.fidelity;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import dev.tenstep.sampling.Denoiser;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The fidelity study on an SDXL model (the tiny-sdxl folder): the study's guided denoiser for a prompt, with the
 * study's empty negative prompt, is SDXL's conditioning (zero unconditional branch, pooled embedding, the default time
 * ids), so its own solve from case 11's initial latents reproduces case 11's GE (gamma 2) and gamma-1 runs on the
 * log-linear schedule at the fixture tolerance.
 */
class SdxlFidelityTest {
    static final String PROMPT = "a photo of an astronaut riding a horse on mars";

    @Test
    void theStudysSolveOfAnSdxlModelIsTheReferenceRun() throws Exception {
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(Fixtures.dir(Fixtures.SDXL));
             NDManager m = NDManager.newBaseManager()) {
            List<SamplerSpec> specs = List.of(SamplerSpec.parse("ge:log-linear"), SamplerSpec.parse("ddim:log-linear"));
            FidelityStudy study = new FidelityStudy(p, new FidelityStudy.Options(List.of(PROMPT), "", 7.5, List.of(0L),
                    specs, List.of(10), 20, 0, 1, FidelityStudy.ReferenceStart.RUN));
            Map<String, NDArray> s = SafeTensors.read(Fixtures.reference(Fixtures.SDXL, "sigma_sampler.safetensors"), m);
            float[] initial = SafeTensors.read(Fixtures.reference(Fixtures.SDXL, "pipeline_euler.safetensors"), m)
                    .get("initial_latents").toFloatArray();
            long[] shape = study.latentShape();
            assertEquals(List.of(1L, 4L, 16L, 16L), java.util.Arrays.stream(shape).boxed().toList(), "the model's default size");
            Denoiser d = study.denoiser(m, PROMPT);
            Map<String, String> runs = Map.of("ge:log-linear", "f_loglinear_g2", "ddim:log-linear", "g_loglinear_g1");
            for (SamplerSpec spec : specs) {
                String ref = runs.get(spec.label()) + ".final_latents";
                float[] z = FidelityStudy.solve(spec.method(), d, initial, shape, spec.schedule(p.noiseSchedule(), 10));
                Allclose.assertClose("fidelity study sdxl " + spec.label(), s.get(ref), m.create(z, new ai.djl.ndarray.types.Shape(shape)),
                        Fixtures.tolerance(Fixtures.SDXL, "sigma_sampler", ref));
            }
        }
    }
}
