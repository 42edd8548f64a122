package dev.tenstep.cli;

import dev.tenstep.pipeline.DemoPipeline;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.IdealPipeline;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import dev.tenstep.pipeline.TextToImage;
import dev.tenstep.sampling.ideal.IdealModels;
import dev.tenstep.web.Generator;
import dev.tenstep.web.JobQueue;
import dev.tenstep.web.OutputStore;
import dev.tenstep.web.WebApp;
import io.javalin.Javalin;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
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
            description = "diffusers Stable Diffusion folder, ideal:shapes or ideal:DIR (default: the first trained model "
                    + "under models/, else ideal:shapes)")
    Path model;

    @Option(names = "--models-dir", paramLabel = "DIR",
            description = "where to look for pipelines when --model is not given (default: models/ of the installation)")
    Path modelsDir;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "address to listen on (default: ${DEFAULT-VALUE})")
    String host;

    @Option(names = "--port", defaultValue = "7860", description = "port, 1..65535 (default: ${DEFAULT-VALUE})")
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

    @Option(names = "--max-size", paramLabel = "PIXELS",
            description = "largest width or height a request may ask for; larger ones get HTTP 400 "
                    + "(default: twice the model's default size: 1024 for SD 1.5, 256 for the demo; at most "
                    + GenerationRequest.MAX_SIZE + ")")
    Integer maxSize;

    @CommandLine.Mixin
    ComputeOptions compute = new ComputeOptions();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public ServeCommand() {
    }

    @Override
    public Integer call() throws Exception {
        validateOptions();
        // before the (slow) model load: a busy port is reported at once
        probePort(host, port);
        // before anything is written or loaded: a bad --device/--dtype is one line
        dev.tenstep.pipeline.ComputeSpec device = compute.resolve(spec.commandLine());
        // for the life of the server: every request computes attention this way
        dev.tenstep.model.nn.AttentionSettings.use(compute.attention(spec.commandLine()));
        TextToImage pipeline;
        Path models = modelsDir != null ? modelsDir : ModelLocator.defaultModelsDir();
        if (model != null && IdealModels.isIdeal(model.toString())) {
            compute.requireCpu(spec.commandLine(), model.toString());
            pipeline = ModelLocator.openIdeal(spec.commandLine(), model.toString());
        } else if (model == null && ModelLocator.pipelines(models).stream().allMatch(DemoPipeline::isDemo)) {
            // a fresh installation: real pictures from the built-in ideal model rather than the random-weight demo
            System.out.println("no trained model under " + models + ": serving " + IdealModels.SHAPES
                    + " (the ideal denoiser of the built-in shapes data set; --model models/demo for the demo pipeline)");
            compute.requireCpu(spec.commandLine(), IdealModels.SHAPES);
            pipeline = IdealPipeline.load(IdealModels.SHAPES);
        } else {
            Path dir = model != null ? model : ModelLocator.defaultModelOrDemo(models);
            System.out.println("loading " + dir + " on " + device.label() + " ...");
            // the model stays resident on the device between requests
            pipeline = StableDiffusionPipeline.load(dir, device);
        }
        JobQueue queue = null;
        Javalin app = null;
        try {
            int limit = maxSize != null ? maxSize : Generator.defaultMaxSize(pipeline.defaultSize());
            if (limit < pipeline.defaultSize()) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--max-size must be at least the model's default size ("
                        + pipeline.defaultSize() + " pixels), got " + limit);
            }
            Generator generator = Generator.of(pipeline, limit);
            if (generator.isDemo()) {
                System.out.println("using the bundled demo pipeline (" + DemoPipeline.LABEL + ")");
            }
            OutputStore store = new OutputStore(outputs != null ? outputs : ModelLocator.defaultOutputsDir());
            queue = new JobQueue(generator, store, workers, queueSize);
            app = WebApp.create(queue, store);
            start(app, host, port);
            System.out.println("tenstep is serving " + pipeline.name() + " (" + device.label() + ") on http://" + host + ":" + app.port()
                    + "/  (sizes up to " + limit + " px; outputs: " + store.dir() + "; Ctrl+C to stop)");
        } catch (Exception | Error e) {
            if (queue != null) {
                queue.close();
            }
            pipeline.close();
            throw e;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Javalin started = app;
        JobQueue q = queue;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            started.stop();
            q.close();
            pipeline.close();
            stopped.countDown();
        }, "serve-shutdown"));
        stopped.await();
        return 0;
    }

    /** Range checks of the options, each message naming its option (exit 2). */
    void validateOptions() {
        List<String> errors = new ArrayList<>();
        if (port < 1 || port > 65535) {
            errors.add("--port must be between 1 and 65535, got " + port);
        }
        if (workers < 1) {
            errors.add("--workers must be at least 1, got " + workers);
        }
        if (queueSize < 1) {
            errors.add("--queue-size must be at least 1, got " + queueSize);
        }
        if (maxSize != null && (maxSize < 1 || maxSize > GenerationRequest.MAX_SIZE)) {
            errors.add("--max-size must be between 1 and " + GenerationRequest.MAX_SIZE + " pixels, got " + maxSize);
        }
        if (host == null || host.isBlank()) {
            errors.add("--host must not be empty");
        }
        if (!errors.isEmpty()) {
            throw new CommandLine.ParameterException(spec.commandLine(), String.join("; ", errors));
        }
    }

    /**
     * Binds a server socket to {@code host:port} and closes it again: a port in use (or an address
     * that cannot be listened on) is reported as one line before the model is loaded.
     *
     * @throws IOException with a one-line message when the address cannot be bound
     */
    static void probePort(String host, int port) throws IOException {
        InetSocketAddress address = new InetSocketAddress(host, port);
        if (address.isUnresolved()) {
            throw new IOException("cannot listen on " + host + ": unknown host; pass --host with a local address, e.g. 127.0.0.1");
        }
        try (ServerSocket probe = new ServerSocket()) {
            probe.setReuseAddress(true);
            probe.bind(address);
        } catch (BindException e) {
            throw bindFailure(host, port, e);
        }
    }

    private static IOException bindFailure(String host, int port, BindException e) {
        String msg = String.valueOf(e.getMessage());
        if (msg.toLowerCase(java.util.Locale.ROOT).contains("in use")) {
            return new IOException("port " + port + " is already in use on " + host + "; pass --port N");
        }
        return new IOException("cannot listen on " + host + ":" + port + ": " + msg);
    }

    /**
     * Starts the app; any failure (the port taken since the probe, a bad address) becomes an
     * {@link IOException} with a one-line message, never a stack trace.
     */
    static void start(Javalin app, String host, int port) throws IOException {
        try {
            app.start(host, port);
        } catch (RuntimeException e) {
            try {
                app.stop();
            } catch (RuntimeException ignored) {
                // the server never ran
            }
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof BindException be) {
                    throw bindFailure(host, port, be);
                }
            }
            Throwable root = e;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            String why = root.getMessage() != null ? root.getMessage() : root.getClass().getSimpleName();
            throw new IOException("could not start the web server on " + host + ":" + port + ": " + why.lines().findFirst().orElse(why));
        }
    }
}
