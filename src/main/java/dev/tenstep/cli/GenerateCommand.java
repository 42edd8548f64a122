package dev.tenstep.cli;

import dev.tenstep.batch.GenerationOptions;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.pipeline.GenerationRecord;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.ResolvedRequest;
import dev.tenstep.pipeline.GenerationResult;
import dev.tenstep.pipeline.Infotext;
import dev.tenstep.pipeline.OutputWriter;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import dev.tenstep.pipeline.TextToImage;
import dev.tenstep.sampling.ideal.IdealModels;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code generate}: one text-to-image generation from a diffusers folder to a PNG with A1111
 * infotext. Optional fixed starting noise ({@code --init-latents}) and latent dumps
 * ({@code --save-latents}) make runs comparable with other implementations.
 */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Generate one image from a prompt.")
public final class GenerateCommand implements Callable<Integer> {
    /** Tensor name of the starting noise in an {@code --init-latents} file. */
    public static final String INITIAL_LATENTS = "initial_latents";

    @Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = {"-m", "--model"}, paramLabel = "DIR|FILE",
            description = "Diffusers pipeline folder, single-file checkpoint (.safetensors, .ckpt), ideal:shapes or "
                    + "ideal:DIR (default: the first model under models/, folders and single files by name, the demo last).")
    Path model;

    @CommandLine.Mixin
    CheckpointOptions checkpoint = new CheckpointOptions();

    @CommandLine.Mixin
    LoraOptions loras = new LoraOptions();

    @Mixin
    GenerationOptions gen = new GenerationOptions();

    @Option(names = {"-o", "--output"}, paramLabel = "FILE.png",
            description = "Output PNG (default: outputs/<date>-<seed>.png; {seed} in the name is replaced by the seed).")
    Path output;

    @Option(names = "--init-latents", paramLabel = "FILE.safetensors",
            description = "Starting noise z: tensor 'initial_latents' [1,4,h,w], replacing the seed's (img2img: the noise "
                    + "added to the image's latents); its h, w set the image size (h x the VAE scale). The seed still "
                    + "drives ddpm's per-step noise.")
    Path initLatents;

    @Option(names = "--save-latents", paramLabel = "FILE.safetensors",
            description = "Write 'final_latents' [1,4,h,w] (pipeline scale), 'x0_hat_per_step' [N,1,4,h,w], 'sigmas', 'timesteps'.")
    Path saveLatents;

    @Mixin
    ComputeOptions compute = new ComputeOptions();

    @Option(names = "--threads", converter = ThreadsConverter.class,
            description = "Intra-op CPU threads, at least 1 (default: number of cores).")
    Integer threads;

    @Option(names = "--no-progress", description = "No progress output: neither the bar (drawn on a terminal) "
            + "nor the line per step printed when standard error is not a terminal.")
    boolean noProgress;

    @Override
    public Integer call() throws IOException {
        CommandLine cmd = spec.commandLine();
        gen.validate(cmd);
        model = ModelLocator.modelOrDefault(model, cmd.getErr());
        if (!IdealModels.isIdeal(model.toString())) {
            ModelLocator.modelOption(cmd, model); // fail before minutes of work, not after
        }
        Path file = output != null ? output : ModelLocator.defaultOutputsDir().resolve(
                LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")) + "-{seed}.png");
        // fail before minutes of work, not after
        checkWritable(cmd, "--output", file);
        if (!file.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".png")) {
            throw new CommandLine.ParameterException(cmd, "--output: " + file + " must be a .png file (images are written as PNG with their parameters)");
        }
        if (saveLatents != null) {
            checkWritable(cmd, "--save-latents", saveLatents);
        }
        DjlEnvironment.threads(threads);
        dev.tenstep.pipeline.ComputeSpec spec = compute.resolve(cmd);
        PrintWriter out = cmd.getOut();
        PrintWriter err = cmd.getErr();
        // the attention setting travels in spec (ComputeSpec.attention)
        dev.tenstep.pipeline.LoraCatalog loraCatalog = loras.catalog(cmd, ModelLocator.defaultModelsDir());
        try (TextToImage pipeline = checkpoint.open(cmd, model, err, compute, spec)) {
            LoraOptions.attach(pipeline, loraCatalog);
            GenerationRequest request = gen.toRequest();
            float[] init = null;
            if (initLatents != null) {
                if (!(pipeline instanceof StableDiffusionPipeline sd)) {
                    throw new CommandLine.ParameterException(cmd, "--init-latents: only for diffusers models, not " + pipeline.name());
                }
                LatentFile lf = readInitLatents(cmd, initLatents, sd);
                init = lf.data;
                int scale = sd.vaeScale();
                int w = (int) lf.shape[3] * scale;
                int h = (int) lf.shape[2] * scale;
                if ((request.width() != null && request.width() != w) || (request.height() != null && request.height() != h)) {
                    throw new CommandLine.ParameterException(cmd, "--init-latents: latents " + new Shape(lf.shape)
                            + " give a " + w + "x" + h + " image, but -W/-H ask for " + request.width() + "x" + request.height());
                }
                request = request.withSize(w, h);
            }
            ResolvedRequest resolved = pipeline.resolve(request);
            out.println("seed: " + resolved.seed());
            out.flush();
            GenerationResult result;
            // The bar redraws with carriage returns: only on a terminal. Redirected, one plain line per step.
            boolean useBar = !noProgress && Terminals.stderrIsTerminal();
            boolean lines = !noProgress && !useBar;
            try (ProgressBar bar = !useBar ? null : new ProgressBarBuilder().setTaskName("denoise")
                    .setInitialMax(resolved.stepsRun()).setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(100)
                    .continuousUpdate().build()) {
                result = pipeline.generate(resolved, null, new TextToImage.Options(init, saveLatents != null, p -> {
                    String sigma = String.format(java.util.Locale.ROOT, "sigma %.3f", p.sigma());
                    if (bar != null) {
                        bar.stepTo(p.step());
                        bar.setExtraMessage(sigma);
                    } else if (lines) {
                        err.println("step " + p.step() + "/" + p.total() + " " + sigma);
                        err.flush();
                    }
                    return true;
                }));
            }
            result.warnings().forEach(w -> err.println("warning: " + w));
            file = Path.of(file.toString().replace("{seed}", Long.toString(result.seed())));
            GenerationRecord record = GenerationRecord.of(result, pipeline.name(), pipeline.modelHash());
            if (initLatents != null) {
                // the seed did not make the starting noise: say where it came from
                record = record.withInfotext(Infotext.withField(record.infotext(), "Init latents",
                        initLatents.getFileName().toString()));
            }
            OutputWriter.Output written = OutputWriter.write(file, result.image(), record, Instant.now(),
                    OutputWriter.Sidecar.NONE);
            if (saveLatents != null) {
                writeLatents(saveLatents, result, written.record().infotext());
                out.println("latents: " + saveLatents);
            }
            out.println("wrote " + file + " (" + result.image().getWidth() + "x" + result.image().getHeight() + ", "
                    + result.timings().totalMs() + " ms)");
            return 0;
        }
    }

    private record LatentFile(float[] data, long[] shape) {
    }

    private static void checkWritable(CommandLine cmd, String option, Path file) {
        try {
            dev.tenstep.io.AtomicFiles.checkWritable(file);
        } catch (IOException e) {
            throw new CommandLine.ParameterException(cmd, option + ": " + e.getMessage());
        }
    }

    private static LatentFile readInitLatents(CommandLine cmd, Path file, StableDiffusionPipeline pipeline) {
        try (SafeTensors st = SafeTensors.open(file); NDManager m = NDManager.newBaseManager()) {
            if (!st.contains(INITIAL_LATENTS)) {
                throw new CommandLine.ParameterException(cmd, "--init-latents: " + file + " has no tensor '"
                        + INITIAL_LATENTS + "' (found " + st.tensors().keySet() + ")");
            }
            NDArray a = st.load(m, INITIAL_LATENTS);
            long[] s = a.getShape().getShape();
            int c = pipeline.unet().config().inChannels();
            if (s.length != 4 || s[0] != 1 || s[1] != c) {
                throw new CommandLine.ParameterException(cmd, "--init-latents: tensor '" + INITIAL_LATENTS + "' must be [1, "
                        + c + ", h, w], got " + a.getShape());
            }
            float[] data = a.toType(ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray();
            for (float v : data) {
                if (!Float.isFinite(v)) {
                    throw new CommandLine.ParameterException(cmd, "--init-latents: tensor '" + INITIAL_LATENTS
                            + "' in " + file + " holds NaN or infinite values");
                }
            }
            return new LatentFile(data, s);
        } catch (IOException e) {
            throw new CommandLine.ParameterException(cmd, "--init-latents: " + e.getMessage());
        }
    }

    /** Writes the latents of a result (see {@code --save-latents}) with the infotext of its stored PNG. */
    static void writeLatents(Path file, GenerationResult r, String infotext) throws IOException {
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> t = new LinkedHashMap<>();
            long[] s = r.latentShape();
            if (r.initialLatents() != null) {
                // the unit-variance starting noise of the seed (or the given latents), as --init-latents reads it;
                // with the hires fix, the first pass's, at the first pass's size
                long[] is = r.initialLatents().length == r.finalLatents().length ? s
                        : new long[] {s[0], s[1], s[2] * r.request().height() / r.request().outputHeight(),
                                s[3] * r.request().width() / r.request().outputWidth()};
                t.put(INITIAL_LATENTS, m.create(r.initialLatents(), new Shape(is)));
            }
            t.put("final_latents", m.create(r.finalLatents(), new Shape(s)));
            int n = r.x0hatPerStep().size();
            float[] all = new float[Math.toIntExact(n * r.finalLatents().length)];
            for (int i = 0; i < n; i++) {
                System.arraycopy(r.x0hatPerStep().get(i), 0, all, i * r.finalLatents().length, r.finalLatents().length);
            }
            t.put("x0_hat_per_step", m.create(all, new Shape(n, s[0], s[1], s[2], s[3])));
            t.put("sigmas", m.create(toFloats(r.sigmas())));
            t.put("timesteps", m.create(toFloats(r.timesteps())));
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("seed", Long.toString(r.seed()));
            meta.put("parameters", infotext);
            SafeTensors.write(file, t, meta);
        }
    }

    private static float[] toFloats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }

}
