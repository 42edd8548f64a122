package dev.tenstep.cli;

import dev.tenstep.model.ModelLoadException;
import dev.tenstep.pipeline.ComputeSpec;
import dev.tenstep.pipeline.DemoModelWriter;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.ModelCatalog;
import dev.tenstep.pipeline.TextToImage;
import dev.tenstep.sampling.ideal.IdealModels;
import dev.tenstep.web.ServedModel;
import dev.tenstep.web.JobQueue;
import dev.tenstep.web.ModelSwitcher;
import dev.tenstep.web.OutputStore;
import dev.tenstep.web.WebApp;
import io.javalin.Javalin;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code serve}: loads one model and starts the web app (pages, JSON API, A1111 subset). The
 * models under {@code --models-dir} (diffusers folders and single-file checkpoints, see
 * {@link ModelCatalog}) are listed and can be switched to from the page or the API; one model is
 * resident at a time. Without {@code --model}, the first one that is not the demo pipeline is
 * served, else the built-in {@code ideal:shapes}.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Start the web UI and API (http://127.0.0.1:7860 by default).")
public class ServeCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "FILE|DIR",
            description = "the model served first: a single-file checkpoint (.safetensors, .ckpt), a diffusers folder, "
                    + "ideal:shapes or ideal:DIR (default: the first model under --models-dir that is not the demo, "
                    + "else ideal:shapes); the others under --models-dir can be switched to from the page or the API")
    Path model;

    @Option(names = "--models-dir", paramLabel = "DIR",
            description = "the models to list and switch between (default: models/ of the installation)")
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

    /** --config, --vae, --ema, --prediction-type: they apply to the --model checkpoint only. */
    @CommandLine.Mixin
    CheckpointOptions checkpoint = new CheckpointOptions();

    /** --lora-dir: every model the server loads gets the same LoRA folder. */
    @CommandLine.Mixin
    LoraOptions loras = new LoraOptions();

    /** The LoRA folder of the models this server loads (set in {@link #call}; null until then). */
    dev.tenstep.pipeline.LoraCatalog loraCatalog;

    @CommandLine.Mixin
    ComputeOptions compute = new ComputeOptions();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public ServeCommand() {
    }

    @Override
    public Integer call() throws Exception {
        validateOptions();
        CommandLine cmd = spec.commandLine();
        // before the (slow) model load: a busy port is reported at once
        probePort(host, port);
        // before anything is written or loaded: a bad --device/--dtype is one line
        ComputeSpec device = compute.resolve(cmd);
        Path models = modelsDir != null ? modelsDir : ModelLocator.defaultModelsDir();
        ModelCatalog catalog = new ModelCatalog(models);
        if (modelsDir != null && !java.nio.file.Files.isDirectory(modelsDir)) {
            System.out.println("warning: --models-dir " + modelsDir + " is not a folder: no models listed from it");
        }
        PrintWriter err = cmd.getErr();
        loraCatalog = loras.catalog(cmd, models);
        Served served = loadFirst(cmd, catalog, device, err);
        ModelCatalog.Entry first = served.entry();
        // the --model entry, to which the checkpoint options apply on a switch back to it
        ModelCatalog.Entry given = model != null ? first : null;
        ModelSwitcher.Loader loader = entry -> load(cmd, entry, given, device, err);
        ServedModel generator = served.generator();
        JobQueue queue = null;
        ModelSwitcher switcher = null;
        Javalin app = null;
        try {
            if (generator.model().isDemo()) {
                System.out.println("using the bundled demo pipeline (" + DemoModelWriter.LABEL + ")");
            }
            OutputStore store = new OutputStore(outputs != null ? outputs : ModelLocator.defaultOutputsDir());
            queue = new JobQueue(generator, store, workers, queueSize);
            switcher = new ModelSwitcher(queue, catalog, loader, first);
            app = WebApp.create(queue, store, switcher, loraCatalog);
            start(app, host, port);
            System.out.println("tenstep is serving " + generator.model().name() + " (" + device.label() + ") on http://" + host
                    + ":" + app.port() + "/  (sizes up to " + generator.maxSize() + " px; " + switcher.entries().size()
                    + " model(s) listed from " + models + "; " + loraCatalog.entries().size() + " LoRA(s) in "
                    + loraCatalog.dir() + "; outputs: " + store.dir() + "; Ctrl+C to stop)");
        } catch (Exception | Error e) {
            if (queue != null) {
                queue.close();
            }
            generator.close();
            throw e;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Javalin started = app;
        JobQueue q = queue;
        ModelSwitcher s = switcher;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            started.stop();
            q.close();
            s.close();
            stopped.countDown();
        }, "serve-shutdown"));
        stopped.await();
        return 0;
    }

    /**
     * The model served first: {@code --model} (checked to exist), else the catalog's first model
     * that is not the demo pipeline (folders and single files, by name), else {@code ideal:shapes}.
     *
     * @throws CommandLine.ParameterException naming {@code --model} when it does not exist
     */
    ModelCatalog.Entry firstModel(CommandLine cmd, ModelCatalog catalog) {
        if (model != null && IdealModels.isIdeal(model.toString())) {
            return ModelCatalog.ideal(model.toString());
        }
        if (model != null) {
            return ModelCatalog.entryOf(ModelLocator.modelOption(cmd, model));
        }
        return catalog.defaultEntry().orElseGet(() -> {
            // a fresh installation: real pictures from the built-in ideal model rather than the random-weight demo
            System.out.println("no trained model under " + catalog.dir() + ": serving " + IdealModels.SHAPES
                    + " (the ideal denoiser of the built-in shapes data set; --model models/demo for the demo pipeline)");
            return ModelCatalog.ideal(IdealModels.SHAPES);
        });
    }

    /**
     * Opens a model for serving: an ideal model, a diffusers folder on {@code device}, or a single
     * file ({@link CheckpointOptions#load}, which also computes its A1111 hash); the
     * {@code --config/--vae/--ema/--prediction-type} options apply to the {@code --model} entry
     * only, other files are recognised from their shapes. Used at start-up and for each switch.
     *
     * @param given the {@code --model} entry, or null
     * @throws CommandLine.ParameterException naming the option at fault (an ideal model or single
     *                                        file on a GPU, {@code --max-size} below the model's
     *                                        default size); model load errors name the file
     */
    ServedModel load(CommandLine cmd, ModelCatalog.Entry entry, ModelCatalog.Entry given, ComputeSpec device, PrintWriter err) {
        TextToImage pipeline;
        if (entry.kind() == ModelCatalog.Kind.IDEAL) {
            compute.requireCpu(cmd, entry.filename());
            pipeline = ModelLocator.openIdeal(cmd, entry.filename());
        } else {
            System.out.println("loading " + entry.filename() + " on " + device.label() + " ...");
            boolean isGiven = entry.sameModel(given);
            CheckpointOptions options = isGiven ? checkpoint : new CheckpointOptions();
            try {
                // the model stays resident on the device between requests
                pipeline = options.load(cmd, entry.path(), err, device);
            } catch (ModelLoadException e) {
                if (isGiven || entry.kind() != ModelCatalog.Kind.FILE || !e.needsConfig()) {
                    throw e;
                }
                throw new ModelLoadException(e.getMessage() + " (serve applies --config, --vae, --ema and --prediction-type "
                        + "to its --model only: start it with --model " + entry.filename() + " and those options)", e);
            }
        }
        if (loraCatalog != null) {
            LoraOptions.attach(pipeline, loraCatalog);
        }
        int limit = maxSize != null ? maxSize : pipeline.maxSize();
        if (limit < pipeline.defaultSize()) {
            pipeline.close();
            throw new CommandLine.ParameterException(cmd, "--max-size must be at least the model's default size ("
                    + pipeline.defaultSize() + " pixels), got " + limit);
        }
        return ServedModel.owning(pipeline, limit);
    }

    /** The model a server starts with and its catalog entry. */
    record Served(ModelCatalog.Entry entry, ServedModel generator) {
    }

    /**
     * Loads the model the server starts with: {@code --model} ({@link #firstModel}); without it, the
     * first model of the folder that loads (a model that fails is skipped with one line naming it
     * and why), else {@code ideal:shapes}: one odd file in {@code models/} must not keep the server
     * from starting.
     *
     * @throws CommandLine.ParameterException as {@link #firstModel} and {@link #load}
     */
    Served loadFirst(CommandLine cmd, ModelCatalog catalog, ComputeSpec device, PrintWriter err) {
        ModelCatalog.Entry first = firstModel(cmd, catalog);
        if (model != null || first.kind() == ModelCatalog.Kind.IDEAL) {
            return new Served(first, load(cmd, first, model != null ? first : null, device, err));
        }
        for (ModelCatalog.Entry e : catalog.entries()) {
            if (e.demo()) {
                continue;
            }
            try {
                return new Served(e, load(cmd, e, null, device, err));
            } catch (ModelLoadException | java.io.UncheckedIOException ex) {
                String why = String.valueOf(ex.getMessage()).lines().findFirst().orElse("");
                // the first sentence: a shape-mismatch message lists dozens of tensors
                int cut = why.indexOf(". ");
                System.out.println("skipping " + e.title() + ": " + (cut > 0 ? why.substring(0, cut + 1) : why)
                        + " (pass --model to choose the model, with --config etc. for a single file)");
            }
        }
        ModelCatalog.Entry shapes = ModelCatalog.ideal(IdealModels.SHAPES);
        System.out.println("no model under " + catalog.dir() + " could be loaded: serving " + IdealModels.SHAPES);
        return new Served(shapes, load(cmd, shapes, null, device, err));
    }

    /** Range checks of the options, each message naming its option (exit 2). */
    void validateOptions() {
        List<String> errors = new ArrayList<>();
        if (model == null && (checkpoint.config != null || checkpoint.vae != null || checkpoint.ema
                || checkpoint.predictionType != null)) {
            errors.add("--config, --vae, --ema and --prediction-type apply to the single file given with --model; "
                    + "pass --model FILE with them");
        }
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
