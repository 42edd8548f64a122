package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Checks that a device and precision reproduce a reference pipeline run: the {@code pipeline_ddim}
 * case of a golden fixture folder (a tiny diffusers pipeline with {@code reference/cases.json} and
 * {@code reference/pipeline_ddim.safetensors}, as made by diffusers: prompt, 10 DDIM steps,
 * CFG 7.5, a given starting latent, then the VAE decode; for SDXL ({@code tiny-sdxl}) no negative prompt,
 * which is the zero unconditional branch, and the default size conditioning). The pipeline is loaded with the given
 * {@link ComputeSpec} and run through {@link StableDiffusionPipeline#generate}; prompt embeddings,
 * final latents and the raw decoded image are compared with the reference under the case's own
 * tolerances ({@code |a - e| <= atol + rtol |e|}), or a caller's tolerance for half precision.
 * Used by {@code tenstep check-device} to prove a GPU setup computes what the CPU computes.
 */
public final class FixtureParity {
    private FixtureParity() {
    }

    /** One compared tensor: the largest absolute error, and the worst ratio of error to allowed error (pass when &lt;= 1). */
    public record Comparison(String tensor, double maxAbsError, double atol, double rtol, double worstRatio) {
        public boolean passed() {
            return worstRatio <= 1.0;
        }

        @Override
        public String toString() {
            return String.format(java.util.Locale.ROOT, "%s: max |err| %.3g (atol %.3g, rtol %.3g) %s", tensor, maxAbsError,
                    atol, rtol, passed() ? "ok" : "FAILED");
        }
    }

    /**
     * Runs the {@code pipeline_ddim} case of {@code fixtureDir} on {@code compute}.
     *
     * @param toleranceScale multiplies the case's atol and rtol (1 for fp32; half precision needs more,
     *                       see docs/gpu.md for the measured figures)
     * @return one comparison per tensor: {@code prompt_embeds} (SDXL: both encoders' context, with the zero row),
     *         {@code final_latents}, {@code final_image}
     * @throws IOException if the reference files cannot be read
     */
    public static List<Comparison> pipelineDdim(Path fixtureDir, ComputeSpec compute, double toleranceScale) throws IOException {
        try (StableDiffusionPipeline p = PipelineAssembler.load(fixtureDir, compute)) {
            return pipelineDdim(fixtureDir, p, toleranceScale);
        }
    }

    /**
     * As {@link #pipelineDdim(Path, ComputeSpec, double)}, on a pipeline already loaded (e.g. a
     * single-file copy of the fixture's weights) on its own device and dtypes; the caller closes it.
     */
    public static List<Comparison> pipelineDdim(Path fixtureDir, StableDiffusionPipeline p, double toleranceScale)
            throws IOException {
        ComputeSpec compute = p.compute();
        JsonNode pipelineCase = caseById(fixtureDir, "pipeline_ddim");
        // the context's tolerance: the text encoder's output (SD), the concatenation of both encoders' (SDXL)
        double[] contextTolerance = p.isXl() ? tolerance(caseById(fixtureDir, "encode_prompt"), "prompt_embeds")
                : tolerance(caseById(fixtureDir, "text_encoder"), "last_hidden_state");
        JsonNode in = pipelineCase.get("inputs");
        // diffusers' negative_prompt None (SDXL's case) is this project's "" (the zero branch when the model asks for it)
        String negative = in.get("negative_prompt").isNull() ? "" : in.get("negative_prompt").asText();
        List<Comparison> out = new ArrayList<>();
        try (NDManager host = NDManager.newBaseManager(ai.djl.Device.cpu())) {
            Map<String, NDArray> ref = SafeTensors.read(fixtureDir.resolve(pipelineCase.get("file").asText()), host);
            NDArray init = ref.get("initial_latents");
            long[] s = init.getShape().getShape();
            int scale = p.vaeScale();
            ResolvedRequest request = p.resolve(new GenerationRequest(in.get("prompt").asText(),
                    negative, in.get("num_inference_steps").asInt(),
                    in.get("guidance_scale").asDouble(), 0, SamplerKind.DDIM, ScheduleKind.DDIM, null,
                    (int) s[3] * scale, (int) s[2] * scale));
            TextToImage.PromptEmbedding e = p.encodePrompt(request.prompt(), request.negativePrompt());
            out.add(compare("prompt_embeds", ref.get("prompt_embeds").toFloatArray(), e.data(),
                    contextTolerance, toleranceScale));
            GenerationResult r = p.generate(request, e,
                    new TextToImage.Options(init.toFloatArray(), false, TextToImage.Listener.NONE));
            out.add(compare("final_latents", ref.get("final_latents").toFloatArray(), r.finalLatents(),
                    tolerance(pipelineCase, "final_latents"), toleranceScale));
            float[] image;
            try (NDManager m = NDManager.newBaseManager(compute.device())) {
                image = p.decodeLatents(m.create(r.finalLatents(), new Shape(s))).toFloatArray();
            }
            out.add(compare("final_image", ref.get("final_image").toFloatArray(), image,
                    tolerance(pipelineCase, "final_image"), toleranceScale));
        }
        return out;
    }

    private static double[] tolerance(JsonNode c, String tensor) {
        JsonNode t = c.get("tolerance").get(tensor);
        if (t == null) {
            throw new IllegalArgumentException("no tolerance for " + tensor + " in case " + c.get("id").asText());
        }
        return t.has("exact") ? new double[] {0, 0} : new double[] {t.get("atol").asDouble(), t.get("rtol").asDouble()};
    }

    static Comparison compare(String name, float[] expected, float[] actual, double[] tol, double scale) {
        if (expected.length != actual.length) {
            throw new IllegalStateException(name + ": " + actual.length + " values, reference has " + expected.length);
        }
        double atol = tol[0] * scale;
        double rtol = tol[1] * scale;
        double maxErr = 0;
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs((double) actual[i] - expected[i]);
            if (!(err <= Double.MAX_VALUE)) {
                return new Comparison(name, Double.NaN, atol, rtol, Double.POSITIVE_INFINITY);
            }
            maxErr = Math.max(maxErr, err);
            double allowed = atol + rtol * Math.abs(expected[i]);
            worst = Math.max(worst, allowed == 0 ? (err == 0 ? 0 : Double.POSITIVE_INFINITY) : err / allowed);
        }
        return new Comparison(name, maxErr, atol, rtol, worst);
    }

    private static JsonNode caseById(Path fixtureDir, String id) throws IOException {
        Path cases = fixtureDir.resolve("reference/cases.json");
        if (!Files.isRegularFile(cases)) {
            throw new IOException(fixtureDir + " is not a golden fixture folder: reference/cases.json is missing");
        }
        for (JsonNode c : new ObjectMapper().readTree(cases.toFile()).get("cases")) {
            if (c.get("id").asText().equals(id)) {
                return c;
            }
        }
        throw new IOException(cases + " has no case '" + id + "'");
    }
}
