package dev.tenstep.web;

import dev.tenstep.pipeline.StableDiffusionPipeline;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

/**
 * Base of the web tests that serve the tiny-sd15 fixture pipeline (64 x 64 images in a few steps):
 * the pipeline is loaded once per test class, and each test gets its own outputs folder.
 */
abstract class TinySd15WebTest {
    static StableDiffusionPipeline pipeline;
    static Generator generator;

    /** A fresh outputs folder per test. */
    @TempDir
    Path outputs;

    @BeforeAll
    static void loadTinySd15() {
        pipeline = StableDiffusionPipeline.load(Fixtures.dir(Fixtures.SD15));
        generator = Generator.of(pipeline);
    }

    @AfterAll
    static void closeTinySd15() {
        if (pipeline != null) {
            pipeline.close();
            pipeline = null;
        }
    }
}
