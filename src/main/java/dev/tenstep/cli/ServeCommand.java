package dev.tenstep.cli;

import dev.tenstep.pipeline.DemoPipeline;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import dev.tenstep.web.Generator;
import dev.tenstep.web.JobQueue;
import dev.tenstep.web.OutputStore;
import dev.tenstep.web.WebApp;
import io.javalin.Javalin;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;

/**
 * {@code serve}: loads one pipeline and starts the web app (pages, JSON API, A1111 subset).
 * Without {@code --model}, the first pipeline folder under {@code models/} is used (real models
 * before the demo); when there is none, the bundled demo pipeline is written to
 * {@code models/demo} first (as {@code make-demo} does).
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Start the web UI and API (http://127.0.0.1:7860 by default).")
public class ServeCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "DIR",
            description = "diffusers Stable Diffusion folder (default: the first under models/, else the demo pipeline)")
    Path model;

    @Option(names = "--models-dir", paramLabel = "DIR",
            description = "where to look for pipelines when --model is not given (default: models/ of the installation)")
    Path modelsDir;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "address to listen on (default: ${DEFAULT-VALUE})")
    String host;

    @Option(names = "--port", defaultValue = "7860", description = "port (default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--outputs", paramLabel = "DIR",
            description = "where images and their JSON sidecars are written (default: outputs/ of the installation)")
    Path outputs;

    @Option(names = "--workers", defaultValue = "1",
            description = "generation threads for the model (default: ${DEFAULT-VALUE})")
    int workers;

    @Option(names = "--queue-size", defaultValue = "16",
            description = "most jobs waiting; more are refused with HTTP 429 (default: ${DEFAULT-VALUE})")
    int queueSize;

    public ServeCommand() {
    }

    @Override
    public Integer call() throws Exception {
        if (workers < 1 || queueSize < 1) {
            throw new CommandLine.ParameterException(new CommandLine(this), "--workers and --queue-size must be at least 1");
        }
        Path dir = model != null ? model : ModelLocator.defaultModelOrDemo(modelsDir != null ? modelsDir : ModelLocator.defaultModelsDir());
        System.out.println("loading " + dir + " ...");
        StableDiffusionPipeline pipeline = StableDiffusionPipeline.load(dir);
        Generator generator = Generator.of(pipeline);
        if (generator.isDemo()) {
            System.out.println("using the bundled demo pipeline (" + DemoPipeline.LABEL + ")");
        }
        OutputStore store = new OutputStore(outputs != null ? outputs : ModelLocator.defaultOutputsDir());
        JobQueue queue = new JobQueue(generator, store, workers, queueSize);
        Javalin app = WebApp.create(queue, store);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            app.stop();
            queue.close();
            pipeline.close();
            stopped.countDown();
        }, "serve-shutdown"));
        app.start(host, port);
        System.out.println("tenstep is serving " + pipeline.name() + " on http://" + host + ":" + app.port()
                + "/  (outputs: " + store.dir() + "; Ctrl+C to stop)");
        stopped.await();
        return 0;
    }
}
