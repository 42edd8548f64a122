package dev.tenstep.web;

import dev.tenstep.pipeline.DemoModelWriter;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.GenerationResult;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The bundled demo pipeline: diffusers layout, loadable, deterministic, fast. */
class WebDemoPipelineTest {
    @TempDir
    Path tmp;

    @Test
    void demoPipelineIsALoadableDiffusersFolder() throws Exception {
        Path dir = DemoModelWriter.create(tmp.resolve("models/demo"), DemoModelWriter.DEFAULT_SEED);
        for (String f : List.of("model_index.json", "scheduler/scheduler_config.json", "text_encoder/config.json",
                "text_encoder/model.safetensors", "tokenizer/vocab.json", "tokenizer/merges.txt",
                "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json", "unet/config.json",
                "unet/diffusion_pytorch_model.safetensors", "vae/config.json", "vae/diffusion_pytorch_model.safetensors")) {
            assertTrue(Files.isRegularFile(dir.resolve(f)), f);
        }
        assertTrue(DemoModelWriter.isDemo(dir));
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(dir)) {
            assertEquals(128, p.defaultSize());
            p.generate(GenerationRequest.of("warm up").withSteps(2).withSeed(1));
            long t0 = System.nanoTime();
            GenerationResult r = p.generate(GenerationRequest.of("a lighthouse at dusk").withSeed(7));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            System.out.println("demo: 10 steps at " + p.defaultSize() + " px in " + ms + " ms " + r.timings());
            assertEquals(128, r.image().getWidth());
            GenerationResult again = p.generate(GenerationRequest.of("a lighthouse at dusk").withSeed(7));
            assertArrayEquals(r.finalLatents(), again.finalLatents(), "same seed, same latents");
        }
        // the same seed writes the same weights
        Path other = DemoModelWriter.create(tmp.resolve("other"), DemoModelWriter.DEFAULT_SEED);
        assertArrayEquals(Files.readAllBytes(dir.resolve("unet/diffusion_pytorch_model.safetensors")),
                Files.readAllBytes(other.resolve("unet/diffusion_pytorch_model.safetensors")));
    }
}
