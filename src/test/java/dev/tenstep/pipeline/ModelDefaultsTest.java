package dev.tenstep.pipeline;

import dev.tenstep.model.ModelLoadException;
import dev.tenstep.sampling.ideal.IdealModels;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A model's serving defaults: a folder's tenstep.json, SD's conventions without one, ideal:shapes' measured
 * guidance scale, and a request without a guidance scale getting the model's (and the infotext saying so).
 */
class ModelDefaultsTest {
    @TempDir
    Path tmp;

    @Test
    void readsTheFolderFileAndFallsBackToSd() throws Exception {
        assertEquals(ModelDefaults.SD, ModelDefaults.of(tmp));
        assertEquals(7.5, ModelDefaults.SD.guidanceScale());
        Files.writeString(tmp.resolve(ModelDefaults.FILE),
                "{\"guidance_scale\": 4.5, \"example_prompt\": \"a red circle\", \"known_words\": [\"red\", \"circle\"], \"note\": 1}");
        assertEquals(new ModelDefaults(4.5, "a red circle", List.of("red", "circle")), ModelDefaults.of(tmp));
    }

    @Test
    void refusesAnOutOfRangeScaleNamingTheFile() throws Exception {
        Files.writeString(tmp.resolve(ModelDefaults.FILE), "{\"guidance_scale\": 200}");
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> ModelDefaults.of(tmp));
        assertTrue(e.getMessage().contains(ModelDefaults.FILE) && e.getMessage().contains("guidance_scale"), e.getMessage());
        Files.writeString(tmp.resolve(ModelDefaults.FILE), "{\"guidance_scale\": \"high\"}");
        e = assertThrows(ModelLoadException.class, () -> ModelDefaults.of(tmp));
        assertTrue(e.getMessage().contains("guidance_scale"), e.getMessage());
    }

    @Test
    void aRequestWithoutGuidanceScaleGetsTheModels() {
        try (IdealPipeline shapes = IdealPipeline.load(IdealModels.SHAPES)) {
            assertEquals(3.0, shapes.defaults().guidanceScale());
            assertTrue(shapes.defaults().knownWords().containsAll(List.of("red", "circle", "star", "navy", "top", "left")),
                    shapes.defaults().knownWords().toString());
            ResolvedRequest r = shapes.resolve(GenerationRequest.of("a red circle").withSeed(1));
            assertEquals(3.0, r.cfgScale());
            String info = Infotext.format(r, shapes.name());
            assertTrue(info.contains("CFG scale: 3,"), info);
            // a request's own scale wins
            assertEquals(7.5, shapes.resolve(new GenerationRequest("a red circle", "", 10, 7.5, 1, null, null, null, null,
                    null)).cfgScale());
        }
    }

    @Test
    void aFolderPipelineReadsItsFile() throws Exception {
        // the fixture's parts linked into a folder of its own, which gets a tenstep.json
        Path copy = Files.createDirectories(tmp.resolve("sd15"));
        try (var parts = Files.list(Fixtures.dir(Fixtures.SD15))) {
            for (Path part : parts.toList()) {
                Files.createSymbolicLink(copy.resolve(part.getFileName().toString()), part);
            }
        }
        Files.writeString(copy.resolve(ModelDefaults.FILE), "{\"guidance_scale\": 2}");
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(copy)) {
            assertEquals(2.0, p.defaults().guidanceScale());
            assertEquals(2.0, p.resolve(GenerationRequest.of("x").withSeed(1)).cfgScale());
        }
    }

    /** A closed-vocabulary model names the words it does not know; LoRA tags, BREAK and AND are not prompt words. */
    @Test
    void unknownWordsAreNamed() {
        ModelDefaults d = new ModelDefaults(3, "a red circle", List.of("a", "red", "circle", "on", "background", "navy"));
        assertEquals(java.util.Optional.empty(), d.unknownWordsWarning("m", "a (red:1.2) circle, on a navy background"));
        assertEquals(java.util.Optional.empty(), d.unknownWordsWarning("m", "a red circle <lora:foo_bar:0.5> BREAK a red AND circle"));
        assertEquals("m does not know the words photo, of, astronaut (it was trained on a fixed vocabulary; other words "
                + "mean nothing to it)", d.unknownWordsWarning("m", "a photo of a red Astronaut photo").orElseThrow());
        assertEquals("m does not know the word circles (it was trained on a fixed vocabulary; other words mean nothing "
                + "to it)", d.unknownWordsWarning("m", "red circles").orElseThrow());
        assertEquals(java.util.Optional.empty(), ModelDefaults.SD.unknownWordsWarning("sd", "a photo of an astronaut"));
    }

    /** The shipped model warns about an unknown word in the result (the web, API and CLI show the warnings). */
    @Test
    void theShippedModelWarnsAboutUnknownWords() {
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(Path.of("models", "tenstep-shapes"))) {
            GenerationResult r = p.generate(GenerationRequest.of("a red astronaut").withSeed(0).withSteps(2));
            assertTrue(r.warnings().contains("tenstep-shapes does not know the word astronaut (it was trained on a "
                    + "fixed vocabulary; other words mean nothing to it)"), r.warnings().toString());
            GenerationResult known = p.generate(GenerationRequest.of("a red circle").withSeed(0).withSteps(2));
            assertTrue(known.warnings().isEmpty(), known.warnings().toString());
        }
    }
}
