package dev.tenstep.pipeline;

import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/** SAMPLERS.md section 5: the same seed gives the same image bit for bit, whatever else runs at the same time. */
class ConcurrentGenerationTest {
    @Test
    void concurrentGenerationsDoNotChangeEachOthersImages() throws Exception {
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(Fixtures.dir(Fixtures.SD15))) {
            GenerationRequest a = new GenerationRequest("a red fox", "", 4, 7.5, 5, dev.tenstep.sampling.SamplerKind.DDPM, null, null, null, null);
            GenerationRequest b = new GenerationRequest("a blue whale", "ugly", 4, 7.5, 6, dev.tenstep.sampling.SamplerKind.GE, null, null, null, null);
            float[] aliceAlone = p.generate(a).finalLatents();
            float[] bobAlone = p.generate(b).finalLatents();
            assertFalse(java.util.Arrays.equals(aliceAlone, bobAlone));

            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<float[]>> futures = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    futures.add(pool.submit(() -> p.generate(a).finalLatents()));
                    futures.add(pool.submit(() -> p.generate(b).finalLatents()));
                }
                for (int i = 0; i < futures.size(); i++) {
                    assertArrayEquals(i % 2 == 0 ? aliceAlone : bobAlone, futures.get(i).get(), "run " + i);
                }
            } finally {
                pool.shutdownNow();
            }
            // the seed fixes the image; another seed changes it
            assertNotEquals(p.generate(a.withSeed(5)).finalLatents()[0], p.generate(a.withSeed(99)).finalLatents()[0]);
            assertEquals(5, p.generate(a).seed());
        }
    }
}
