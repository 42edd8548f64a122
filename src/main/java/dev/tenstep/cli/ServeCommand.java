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

    @Option(names = "--models-dir", paramLabel = "DIR", defaultValue = "models",
            description = "where to look for pipelines when --model is not given (default: ${DEFAULT-VALUE})")
    Path modelsDir;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "address to listen on (default: ${DEFAULT-VALUE})")
    String host;

    @Option(names = "--port", defaultValue = "7860", description = "port (default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--outputs", paramLabel = "DIR", defaultValue = "outputs",
            description = "where images and their JSON sidecars are written (default: ${DEFAULT-VALUE})")
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
        Path dir = model != null ? model : findOrCreateModel(modelsDir);
        System.out.println("loading " + dir + " ...");
        StableDiffusionPipeline pipeline = StableDiffusionPipeline.load(dir);
        Generator generator = Generator.of(pipeline);
        if (generator.isDemo()) {
            System.out.println("using the bundled demo pipeline (" + DemoPipeline.LABEL + ")");
        }
        OutputStore store = new OutputStore(outputs);
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

    /**
     * The pipeline to serve when none is named: the first folder under {@code modelsDir} (by name)
     * holding a {@code model_index.json}, real models before the demo; if there is none, the demo
     * pipeline is created in {@code modelsDir/demo}.
     */
    public static Path findOrCreateModel(Path modelsDir) throws IOException {
        Optional<Path> found = findModel(modelsDir);
        if (found.isPresent()) {
            return found.get();
        }
        Path demo = modelsDir.resolve("demo");
        System.out.println("no pipeline under " + modelsDir + "/: writing the demo pipeline to " + demo);
        return DemoPipeline.create(demo, DemoPipeline.DEFAULT_SEED);
    }

    /** The first pipeline folder under {@code modelsDir}, real models before the demo. */
    public static Optional<Path> findModel(Path modelsDir) throws IOException {
        if (!Files.isDirectory(modelsDir)) {
            return Optional.empty();
        }
        List<Path> pipelines = new ArrayList<>();
        try (Stream<Path> s = Files.list(modelsDir)) {
            s.filter(p -> Files.isRegularFile(p.resolve("model_index.json"))).sorted().forEach(pipelines::add);
        }
        return pipelines.stream().filter(p -> !DemoPipeline.isDemo(p)).findFirst()
                .or(() -> pipelines.stream().findFirst());
    }

    /** Runs the command alone (until the root command registers it). */
    public static void main(String[] args) {
        System.exit(new CommandLine(new ServeCommand()).execute(args));
    }
}
