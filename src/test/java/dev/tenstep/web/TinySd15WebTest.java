package dev.tenstep.web;

import dev.tenstep.pipeline.StableDiffusionPipeline;
import dev.tenstep.testing.Fixtures;
import io.javalin.Javalin;
import io.javalin.testtools.HttpClient;
import io.javalin.testtools.JavalinTest;
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
    static dev.tenstep.pipeline.TextToImage generator;

    /** A fresh outputs folder per test. */
    @TempDir
    Path outputs;

    @BeforeAll
    static void loadTinySd15() {
        pipeline = StableDiffusionPipeline.load(Fixtures.dir(Fixtures.SD15));
        generator = pipeline;
    }

    /** A test body run against a started app. */
    @FunctionalInterface
    interface AppTest {
        void run(HttpClient client, JobQueue queue, OutputStore store) throws Exception;
    }

    /** Runs {@code test} against the web app of {@code gen} (one worker, {@code queueSize} waiting jobs) on {@link #outputs}. */
    void withApp(dev.tenstep.pipeline.TextToImage gen, int queueSize, AppTest test) {
        withApp(ServedModel.of(gen), queueSize, test);
    }

    /** As {@link #withApp(dev.tenstep.pipeline.TextToImage, int, AppTest)} with the server's model and size limit. */
    void withApp(ServedModel gen, int queueSize, AppTest test) {
        OutputStore store = new OutputStore(outputs);
        JobQueue queue = new JobQueue(gen, store, 1, queueSize);
        try {
            Javalin app = WebApp.create(queue, store);
            JavalinTest.test(app, (server, client) -> test.run(client, queue, store));
        } finally {
            queue.close();
        }
    }

    /** {@link #withApp(dev.tenstep.pipeline.TextToImage, int, AppTest)} with the tiny-sd15 generator and 16 waiting jobs. */
    void withApp(AppTest test) {
        withApp(generator, 16, test);
    }

    @AfterAll
    static void closeTinySd15() {
        if (pipeline != null) {
            pipeline.close();
            pipeline = null;
        }
    }
}
