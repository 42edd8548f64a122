package dev.tenstep.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import ai.djl.pytorch.jni.JniUtils;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.tenstep.io.AtomicFiles;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.model.clip.ClipTextModel;
import dev.tenstep.model.clip.ClipTokenizer;
import dev.tenstep.model.nn.AttentionSettings;
import dev.tenstep.model.nn.Ops;
import dev.tenstep.model.unet.UNet2DConditionModel;
import dev.tenstep.model.vae.AutoencoderKL;
import dev.tenstep.model.vae.LatentDist;
import dev.tenstep.pipeline.PipelineAssembler;
import dev.tenstep.sampling.NoiseSchedule;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * Trains a small Stable Diffusion pipeline with libtorch's autograd through the project's own model
 * classes, in two stages, and writes it in the diffusers layout.
 *
 * <ol>
 * <li>The VAE ({@link AutoencoderKL}) on the pictures: L1 reconstruction of a posterior sample
 *     plus {@code klWeight} times the KL divergence to N(0, 1) (both means over elements; the LDM
 *     recipe of Rombach et al. 2022 without its perceptual and GAN terms). Its {@code scaling_factor}
 *     is then set to 1 / std of the posterior means of 256 pictures, as SD's 0.18215 was.</li>
 * <li>The UNet and the text encoder on the frozen VAE's scaled latents (posterior means): the epsilon-prediction loss
 *     {@code |eps - eps_theta(sqrt(alphaBar_t) z + sqrt(1 - alphaBar_t) eps, t, c)|^2} (Ho et al.
 *     2020, eq. 14) with t uniform in 0..999 on SD's scaled-linear schedule, each picture's term weighted by
 *     min(SNR_t, gamma) / SNR_t ({@link TrainOptions#lossWeight}, Hang et al. 2023; 1 with {@code --snr-gamma 0}),
 *     and the caption replaced
 *     by the empty prompt with probability {@code captionDropout} (classifier-free guidance, Ho and
 *     Salimans 2022).</li>
 * </ol>
 *
 * <p>Every random draw of step s of stage k (pictures, posterior noise, timesteps, eps, dropout) comes
 * from a {@link SplittableRandom} seeded by (seed, k, s), and the weights start from
 * {@link dev.tenstep.model.Weights#random} with the seed: a run is a function of its options, and a
 * run resumed from a checkpoint continues exactly as the uninterrupted one (same machine and thread
 * count: libtorch's CPU kernels are deterministic there). Checkpoints hold the weights in float32, the
 * optimizer's moments and the loss history.
 */
public final class Trainer {
    /** Seed offsets of the three networks' initial weights (those of the demo pipeline). */
    static final long TEXT_ENCODER_SEED = 0;
    static final long UNET_SEED = 1;
    static final long VAE_SEED = 2;
    /** Pictures whose latents set the VAE's scaling factor. */
    static final int SCALE_PICTURES = 256;
    private static final String LATEST = "latest";
    /** The per-step loss log written into the pipeline folder. */
    public static final String LOSS_LOG = "training-log.csv";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Receives the progress of a run. */
    public interface Listener {
        /** After each optimizer step: stage 1 or 2, the step number (1-based), the stage's steps, the step's loss. */
        void step(int stage, int step, int total, float loss);

        /** A line for the log (stage starts, checkpoints, the output). */
        void log(String line);
    }

    private final TrainOptions options;
    private final Listener listener;

    public Trainer(TrainOptions options, Listener listener) {
        this.options = options;
        this.listener = listener;
    }

    /** The state saved with a checkpoint. */
    record State(int stage, int step, long optimizerSteps, double scalingFactor, List<Float> vaeLosses,
                 List<Float> unetLosses, List<Float> decoderLosses, Map<String, Object> recipe, Map<Integer, Float> vaeEval,
                 Map<Integer, Float> unetEval, Map<Integer, Float> decoderEval) {
        /** The same run at another stage and step. */
        State at(int newStage, int newStep, long newOptimizerSteps, double newScalingFactor) {
            return new State(newStage, newStep, newOptimizerSteps, newScalingFactor, vaeLosses, unetLosses, decoderLosses,
                    recipe, vaeEval, unetEval, decoderEval);
        }
    }

    /**
     * Runs (or, with {@code resume}, continues from the latest checkpoint) until both stages are done,
     * then writes the pipeline to {@link TrainOptions#output}.
     *
     * @param resume     continue from the latest checkpoint in {@link TrainOptions#checkpoints}
     * @param stopAfter  stop (after checkpointing) once this many optimizer steps have run in this call,
     *                   counted over both stages; 0 = run to the end (tests interrupt runs with it)
     * @return the output folder, or null when stopped early
     * @throws IllegalArgumentException if {@code resume} finds no checkpoint or one made with other settings
     * @throws IOException              if a file cannot be written or read
     */
    public Path run(boolean resume, int stopAfter) throws IOException {
        // libtorch's grad mode is per thread and on by default outside DJL's first thread: off here, so that
        // only the forward passes inside a GradientCollector record a graph and the optimizer's in-place
        // updates of the parameters are allowed
        Engine.getInstance(); // loads libtorch before its JNI is called
        boolean gradMode = JniUtils.isGradMode();
        JniUtils.setGradMode(false);
        try {
            return train(resume, stopAfter);
        } finally {
            JniUtils.setGradMode(gradMode);
        }
    }

    private Path train(boolean resume, int stopAfter) throws IOException {
        Path target = options.output().toAbsolutePath().normalize();
        if (Files.isDirectory(target) && !Files.isRegularFile(target.resolve("training.json"))) {
            try (Stream<Path> s = Files.list(target)) {
                if (s.findAny().isPresent()) {
                    // the output is replaced at the end: never a folder this command did not write
                    throw new IllegalArgumentException("--output " + target + " exists and was not written by train "
                            + "(no training.json); choose another folder");
                }
            }
        }
        ModelSizes sizes = options.sizes();
        Files.createDirectories(options.checkpoints());
        Path tokDir = options.checkpoints().resolve("tokenizer");
        PipelineWriter.writeTokenizer(tokDir);
        NoiseSchedule schedule = NoiseSchedule.of(PipelineWriter.schedulerConfig());
        State state = new State(1, 0, 0, 1.0, new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), options.recipe(),
                new java.util.TreeMap<>(), new java.util.TreeMap<>(), new java.util.TreeMap<>());
        Path from = null;
        if (resume) {
            from = latest();
            state = readState(from);
        }
        // training needs the differentiable attention path; the fused kernel is skipped under autograd anyway
        try (NDManager manager = NDManager.newBaseManager();
             ClipTokenizer tokenizer = PipelineAssembler.tokenizer(tokDir);
             AttentionSettings.Scope ignored = AttentionSettings.use(new AttentionSettings(false, Long.MAX_VALUE,
                     AttentionSettings.DEFAULT_BUDGET_BYTES))) {
            Parameters vaeParams = from != null ? Parameters.read(manager, from.resolve("vae.safetensors"))
                    : Parameters.initial(manager, options.seed() + VAE_SEED, w -> new AutoencoderKL(w, sizes.vaeConfig()));
            if (from == null) {
                narrowPosterior(vaeParams);
            }
            Parameters unetParams = from != null ? Parameters.read(manager, from.resolve("unet.safetensors"))
                    : Parameters.initial(manager, options.seed() + UNET_SEED, w -> new UNet2DConditionModel(sizes.unetConfig(), w));
            Parameters textParams = from != null ? Parameters.read(manager, from.resolve("text_encoder.safetensors"))
                    : Parameters.initial(manager, options.seed() + TEXT_ENCODER_SEED, w -> new ClipTextModel(w, sizes.textEncoderConfig()));
            AutoencoderKL vae = new AutoencoderKL(vaeParams.weights(), sizes.vaeConfig());
            UNet2DConditionModel unet = new UNet2DConditionModel(sizes.unetConfig(), unetParams.weights());
            ClipTextModel text = new ClipTextModel(textParams.weights(), sizes.textEncoderConfig());
            listener.log("sizes: " + sizes.describe() + "; parameters: text encoder " + textParams.count() + ", UNet "
                    + unetParams.count() + ", VAE " + vaeParams.count());
            listener.log("data: " + options.data().describe() + "; " + JniUtils.getNumThreads() + " intra-op thread(s)"
                    + " (a resumed run repeats an uninterrupted one bit for bit with the same count)");
            Networks nets = new Networks(vaeParams, unetParams, textParams, vae, unet, text);
            int[] budget = {stopAfter > 0 ? stopAfter : Integer.MAX_VALUE};

            if (state.stage() == 1) {
                AdamW adam = new AdamW(manager, vaeParams.arrays(), 0.9, 0.999, 1e-8, 0.01, 1.0);
                if (from != null && state.step() < options.vaeSteps()) {
                    restore(adam, from, state, manager);
                }
                listener.log("stage 1: VAE, " + options.vaeSteps() + " steps of " + options.vaeBatch() + " pictures"
                        + (state.step() > 0 ? ", resuming at step " + (state.step() + 1) : ""));
                if (state.step() == 0) {
                    state.vaeEval().put(0, vaeEval(manager, vae));
                }
                // no checkpoint at the last step: the one after the scaling factor below stands for it
                state = steps(state, 1, options.vaeSteps(), options.vaeLr(), adam, nets, budget,
                        s -> vaeStep(manager, vae, s), state.vaeLosses(), state.vaeEval(), () -> vaeEval(manager, vae),
                        null, false);
                if (state == null) {
                    return null;
                }
                double scale = scalingFactor(manager, vae);
                listener.log(String.format(java.util.Locale.ROOT, "VAE latent scaling_factor %.5f", scale));
                state = state.at(2, 0, 0, scale);
                checkpoint(nets, null, state);
            }

            if (state.stage() == 2) {
                Map<String, NDArray> trained = new LinkedHashMap<>();
                unetParams.arrays().forEach((k, a) -> trained.put("unet/" + k, a));
                textParams.arrays().forEach((k, a) -> trained.put("text_encoder/" + k, a));
                AdamW adam = new AdamW(manager, trained, 0.9, 0.999, 1e-8, 0.01, 1.0);
                // a checkpoint at the stage's last step runs no step: its optimizer state is not read
                if (from != null && state.step() > 0 && state.step() < options.unetSteps()) {
                    restore(adam, from, state, manager);
                }
                listener.log("stage 2: UNet + text encoder, " + options.unetSteps() + " steps of " + options.unetBatch()
                        + " pictures" + (state.step() > 0 ? ", resuming at step " + (state.step() + 1) : ""));
                if (state.step() == 0) {
                    state.unetEval().put(0, unetEval(manager, nets, tokenizer, schedule, state.scalingFactor()));
                }
                double scale = state.scalingFactor();
                state = steps(state, 2, options.unetSteps(), options.unetLr(), adam, nets, budget,
                        s -> unetStep(manager, nets, tokenizer, schedule, scale, s), state.unetLosses(), state.unetEval(),
                        () -> unetEval(manager, nets, tokenizer, schedule, scale), "held-out eps MSE", true);
                if (state == null) {
                    return null;
                }
                state = state.at(3, 0, 0, state.scalingFactor());
                if (options.unetSteps() == 0) {
                    checkpoint(nets, null, state);
                }
            }

            if (state.stage() == 3) {
                // the decoder alone: the latent space the UNet was trained on (the encoder's means) stays as it is
                Map<String, NDArray> decoder = new LinkedHashMap<>();
                vaeParams.arrays().forEach((k, a) -> {
                    if (k.startsWith("decoder.") || k.startsWith("post_quant_conv.")) {
                        decoder.put(k, a);
                    }
                });
                AdamW adam = new AdamW(manager, decoder, 0.9, 0.999, 1e-8, 0.01, 1.0);
                if (from != null && state.step() > 0 && state.step() < options.decoderSteps()) {
                    restore(adam, from, state, manager);
                }
                listener.log("stage 3: VAE decoder on the posterior means, " + options.decoderSteps() + " steps of "
                        + options.vaeBatch() + " pictures" + (state.step() > 0 ? ", resuming at step " + (state.step() + 1) : ""));
                if (state.step() == 0 && options.decoderSteps() > 0) {
                    state.decoderEval().put(0, vaeEval(manager, vae));
                }
                state = steps(state, 3, options.decoderSteps(), options.vaeLr(), adam, nets, budget,
                        s -> decoderStep(manager, vae, s), state.decoderLosses(), state.decoderEval(),
                        () -> vaeEval(manager, vae), "held-out L1 of the mean", true);
                if (state == null) {
                    return null;
                }
            }
            Path out = export(nets, state);
            listener.log("wrote " + out);
            return out;
        }
    }

    /**
     * The steps of one stage, from {@code state.step()} to {@code total}: each step's loss (recomputed on a
     * non-finite gradient, {@link #optimize}) into {@code losses}, the held-out {@code eval} into {@code evals} every
     * {@code checkpointEvery} steps and at the end (logged when {@code evalName} is given), with a checkpoint there
     * (at the last step only when {@code checkpointLast}).
     *
     * @param budget optimizer steps this call may still run, counted down over all stages
     * @return the state after the stage, or null when the budget ran out (after a checkpoint)
     */
    private State steps(State state, int stage, int total, double peakLr, AdamW adam, Networks nets, int[] budget,
                        java.util.function.IntFunction<Float> step, List<Float> losses, Map<Integer, Float> evals,
                        java.util.function.Supplier<Float> eval, String evalName, boolean checkpointLast) throws IOException {
        while (state.step() < total) {
            if (budget[0]-- <= 0) {
                checkpoint(nets, adam, state);
                return null;
            }
            int s = state.step();
            float loss = optimize(adam, options.learningRate(peakLr, s, total), stage, s, () -> step.apply(s));
            losses.add(loss);
            state = state.at(stage, s + 1, adam.steps(), state.scalingFactor());
            listener.step(stage, s + 1, total, loss);
            if ((s + 1) % options.checkpointEvery() == 0 || s + 1 == total) {
                evals.put(s + 1, eval.get());
                if (evalName != null) {
                    listener.log(String.format(java.util.Locale.ROOT, "stage %d step %d: %s %.5f", stage, s + 1, evalName,
                            evals.get(s + 1)));
                }
                if (s + 1 < total || checkpointLast) {
                    checkpoint(nets, adam, state);
                }
            }
        }
        return state;
    }

    private record Networks(Parameters vaeParams, Parameters unetParams, Parameters textParams, AutoencoderKL vae,
                            UNet2DConditionModel unet, ClipTextModel text) {
    }

    /**
     * The initial log-variance of the VAE's posterior: {@code quant_conv}'s bias of the logvar channels (4..7 of its 8
     * outputs, diffusers' DiagonalGaussianDistribution order: mean, then logvar). At PyTorch's initialisation the
     * logvar is about 0, a posterior std of 1 against means of a few tenths, so the decoder of the first hundreds of
     * steps sees mostly noise and learns the average picture (every shape orange). A std of exp(-3) = 0.05 lets it
     * see the encoder from step 1; the KL term then widens the posterior as far as it pays. Measured (600 stage-1
     * steps, seed 1): 16-18 of 200 pictures read back in colour and shape instead of 0-3 (docs/trained-model.md).
     */
    static final float INITIAL_LOGVAR = -6f;

    private static void narrowPosterior(Parameters vaeParams) {
        NDArray bias = vaeParams.arrays().get("quant_conv.bias");
        long latent = bias.getShape().get(0) / 2;
        bias.set(new NDIndex(latent + ":"), INITIAL_LOGVAR);
    }

    /** The random stream of step {@code step} of stage {@code stage}. */
    static SplittableRandom stepRandom(long seed, int stage, int step) {
        return new SplittableRandom(seed * 0x9E3779B97F4A7C15L + stage * 0x632BE59BD9B4E019L + step);
    }

    private record Batch(NDArray images, List<String> captions) {
    }

    private Batch batch(NDManager m, SplittableRandom rnd, int n) {
        int size = options.sizes().imageSize();
        int per = 3 * size * size;
        float[] data = new float[n * per];
        List<String> captions = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            TrainingData.Example e = options.data().next(rnd);
            System.arraycopy(e.image(), 0, data, i * per, per);
            captions.add(e.caption());
        }
        return new Batch(m.create(data, new Shape(n, 3, size, size)), captions);
    }

    private static NDArray gaussian(NDManager m, SplittableRandom rnd, long... shape) {
        Shape s = new Shape(shape);
        float[] f = new float[Math.toIntExact(s.size())];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) rnd.nextGaussian();
        }
        return m.create(f, s);
    }

    private float vaeStep(NDManager manager, AutoencoderKL vae, int step) {
        SplittableRandom rnd = stepRandom(options.seed(), 1, step);
        int b = options.vaeBatch();
        int l = options.sizes().latentSize();
        try (NDManager m = manager.newSubManager()) {
            Batch batch = batch(m, rnd, b);
            NDArray noise = gaussian(m, rnd, b, 4, l, l);
            try (Ops.Recording recording = Ops.recordGradients();
                 GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                LatentDist d = vae.encode(batch.images());
                NDArray rec = vae.decode(d.sample(noise));
                NDArray recLoss = rec.sub(batch.images()).abs().mean();
                // KL(N(mean, var) || N(0, 1)) per element: (mean^2 + var - 1 - logvar) / 2
                NDArray kl = d.mean().square().add(d.logvar().exp()).sub(1f).sub(d.logvar()).mul(0.5f).mean();
                NDArray loss = recLoss.add(kl.mul((float) options.klWeight()));
                gc.backward(loss);
                return loss.getFloat();
            }
        }
    }

    /**
     * A stage-3 step: L1 reconstruction of the batch from the frozen encoder's posterior means, the gradient
     * reaching only the decoder and {@code post_quant_conv}. Stage 1 trains the decoder on posterior samples,
     * whose noise (about a third of the latents' spread at {@code --kl-weight 1e-3}) it learns to average over:
     * a red and a yellow shape came back orange. Stage 2 trains on the means, so the decoder is refined on exactly
     * the latents the UNet learns to make (what Stability's sd-vae-ft-mse did for SD: the decoder alone,
     * the latent space unchanged). Draws come from stage 6's stream.
     */
    private float decoderStep(NDManager manager, AutoencoderKL vae, int step) {
        SplittableRandom rnd = stepRandom(options.seed(), 6, step);
        try (NDManager m = manager.newSubManager()) {
            Batch batch = batch(m, rnd, options.vaeBatch());
            // outside autograd: the encoder is frozen
            NDArray mean = vae.encode(batch.images()).mean();
            try (Ops.Recording recording = Ops.recordGradients();
                 GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray loss = vae.decode(mean).sub(batch.images()).abs().mean();
                gc.backward(loss);
                return loss.getFloat();
            }
        }
    }

    /** Pictures of the fixed held-out batches of {@link #vaeEval} and {@link #unetEval}. */
    static final int EVAL_PICTURES = 16;

    /**
     * The VAE's L1 reconstruction error of the posterior mean on a fixed batch (drawn from the seed's
     * stream of "stage 4"), outside autograd: a loss without the per-batch noise of the training losses.
     */
    private float vaeEval(NDManager manager, AutoencoderKL vae) {
        try (NDManager m = manager.newSubManager()) {
            Batch batch = batch(m, stepRandom(options.seed(), 4, 0), EVAL_PICTURES);
            return vae.decode(vae.encode(batch.images()).mean()).sub(batch.images()).abs().mean().getFloat();
        }
    }

    /**
     * The epsilon MSE on a fixed batch (stage 5's stream: pictures, posterior noise, eps, full captions)
     * at timesteps spread evenly over 0..999, outside autograd.
     */
    private float unetEval(NDManager manager, Networks nets, ClipTokenizer tokenizer, NoiseSchedule schedule,
                           double scalingFactor) {
        SplittableRandom rnd = stepRandom(options.seed(), 5, 0);
        int b = EVAL_PICTURES;
        try (NDManager m = manager.newSubManager()) {
            Batch batch = batch(m, rnd, b);
            Noised n = noised(m, rnd, nets, tokenizer, schedule, scalingFactor, batch,
                    i -> (int) ((i + 0.5) * schedule.numTrainTimesteps() / b), i -> batch.captions().get(i));
            NDArray context = nets.text().forward(n.ids());
            return nets.unet().forward(n.xt(), n.timesteps(), context).sub(n.eps()).square().mean().getFloat();
        }
    }

    /**
     * One stage-2 batch: latents z of the frozen VAE (scaled), noise eps, timesteps t and the noised latents
     * {@code x_t = sqrt(alphaBar_t) z + sqrt(1 - alphaBar_t) eps} (DDPM's forward process, Ho et al. 2020 eq. 4),
     * with the captions' token ids. Per picture i, {@code timestep} is asked before {@code caption}, so draws from
     * {@code rnd} inside them keep one order.
     */
    private Noised noised(NDManager m, SplittableRandom rnd, Networks nets, ClipTokenizer tokenizer, NoiseSchedule schedule,
                          double scalingFactor, Batch batch, java.util.function.IntUnaryOperator timestep,
                          java.util.function.IntFunction<String> caption) {
        int b = batch.captions().size();
        int l = options.sizes().latentSize();
        // the frozen VAE runs outside autograd: its latents are constants of the step
        // the posterior mean, not a sample: with --kl-weight 1e-3 the posterior std is about a third of the latents'
        // spread (0.48 against 1.41 for the shipped VAE), and training on samples taught the UNet to draw that noise
        NDArray z = nets.vae().encode(batch.images()).mean().mul((float) scalingFactor);
        NDArray eps = gaussian(m, rnd, b, 4, l, l);
        float[] t = new float[b];
        float[] a = new float[b];
        float[] s = new float[b];
        long[] ids = new long[b * ClipTokenizer.MAX_LENGTH];
        for (int i = 0; i < b; i++) {
            int ti = timestep.applyAsInt(i);
            t[i] = ti;
            a[i] = (float) Math.sqrt(schedule.alphaBar(ti));
            s[i] = (float) Math.sqrt(1.0 - schedule.alphaBar(ti));
            System.arraycopy(tokenizer.encode(caption.apply(i)).ids(), 0, ids, i * ClipTokenizer.MAX_LENGTH, ClipTokenizer.MAX_LENGTH);
        }
        float[] w = new float[b];
        for (int i = 0; i < b; i++) {
            w[i] = (float) options.lossWeight(schedule.alphaBar((int) t[i]));
        }
        NDArray xt = z.mul(m.create(a, new Shape(b, 1, 1, 1))).add(eps.mul(m.create(s, new Shape(b, 1, 1, 1))));
        return new Noised(xt, eps, m.create(t, new Shape(b)), m.create(ids, new Shape(b, ClipTokenizer.MAX_LENGTH)),
                m.create(w, new Shape(b)));
    }

    /**
     * A stage-2 batch: x_t [B, 4, l, l], eps [B, 4, l, l], timesteps [B], token ids [B, 77] and the per-picture
     * loss weights [B] ({@link TrainOptions#lossWeight}).
     */
    private record Noised(NDArray xt, NDArray eps, NDArray timesteps, NDArray ids, NDArray weights) {
    }

    /** 1 / std of the posterior means of {@link #SCALE_PICTURES} pictures (a fixed draw of the seed), the latents stage 2 trains on. */
    private double scalingFactor(NDManager manager, AutoencoderKL vae) {
        SplittableRandom rnd = stepRandom(options.seed(), 3, 0);
        double sum = 0;
        double sq = 0;
        long n = 0;
        for (int done = 0; done < SCALE_PICTURES; done += 32) {
            try (NDManager m = manager.newSubManager()) {
                int b = Math.min(32, SCALE_PICTURES - done);
                Batch batch = batch(m, rnd, b);
                NDArray z = vae.encode(batch.images()).mean();
                for (float v : z.toFloatArray()) {
                    sum += v;
                    sq += (double) v * v;
                    n++;
                }
            }
        }
        double mean = sum / n;
        double std = Math.sqrt(Math.max(1e-12, sq / n - mean * mean));
        return 1.0 / std;
    }

    private float unetStep(NDManager manager, Networks nets, ClipTokenizer tokenizer, NoiseSchedule schedule,
                           double scalingFactor, int step) {
        SplittableRandom rnd = stepRandom(options.seed(), 2, step);
        int b = options.unetBatch();
        try (NDManager m = manager.newSubManager()) {
            Batch batch = batch(m, rnd, b);
            Noised n = noised(m, rnd, nets, tokenizer, schedule, scalingFactor, batch,
                    i -> rnd.nextInt(schedule.numTrainTimesteps()),
                    i -> rnd.nextDouble() < options.captionDropout() ? "" : batch.captions().get(i));
            try (Ops.Recording recording = Ops.recordGradients();
                 GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray context = nets.text().forward(n.ids());
                NDArray pred = nets.unet().forward(n.xt(), n.timesteps(), context);
                // per picture: the mean over [4, l, l], weighted; then the mean over the batch (as diffusers'
                // train_text_to_image.py does with --snr_gamma); the weights are 1 when the weighting is off
                NDArray loss = pred.sub(n.eps()).square().reshape(n.weights().size(), -1).mean(new int[] {1}).mul(n.weights()).mean();
                gc.backward(loss);
                return loss.getFloat();
            }
        }
    }

    /** How often a step whose gradient is not finite is recomputed before the run stops. */
    static final int RECOMPUTES = 3;

    /**
     * Computes a step's loss and gradients and updates with them. A step whose gradient is not finite is
     * recomputed from the same batch (its draws come from the stream of (seed, stage, step), so a good
     * recomputation is exactly the step an unfaulted run takes), at most {@link #RECOMPUTES} times, each logged:
     * identical runs have failed at different steps with finite losses (docs/training.md), a fault of the
     * backward pass that is not yet found, not a divergence, which would fail again and stops the run.
     */
    private float optimize(AdamW adam, double lr, int stage, int step, java.util.function.Supplier<Float> compute) {
        for (int attempt = 0; ; attempt++) {
            float loss = compute.get();
            try {
                adam.step(lr);
                return loss;
            } catch (AdamW.NonFiniteGradientException e) {
                if (attempt == RECOMPUTES) {
                    throw e;
                }
                listener.log("stage " + stage + " step " + (step + 1) + ": " + e.getMessage() + "; recomputing the step");
                adam.zeroGradients();
            }
        }
    }

    private void restore(AdamW adam, Path from, State state, NDManager manager) throws IOException {
        Path f = from.resolve("optimizer.safetensors");
        if (!Files.isRegularFile(f)) {
            throw new IllegalArgumentException(from + " has no optimizer.safetensors");
        }
        try (NDManager m = manager.newSubManager()) {
            adam.restore(SafeTensors.read(f, m), state.optimizerSteps());
        }
    }

    private Path latest() throws IOException {
        Path pointer = options.checkpoints().resolve(LATEST);
        if (!Files.isRegularFile(pointer)) {
            throw new IllegalArgumentException("--resume: no checkpoint in " + options.checkpoints());
        }
        return options.checkpoints().resolve(Files.readString(pointer).strip());
    }

    @SuppressWarnings("unchecked")
    private State readState(Path dir) throws IOException {
        Map<String, Object> m = JSON.readValue(dir.resolve("state.json").toFile(), Map.class);
        Map<String, Object> recipe = (Map<String, Object>) m.get("recipe");
        // compared as parsed JSON, so that 7 and 7L, as written and as read back, are the same value
        Object mine = JSON.readValue(JSON.writeValueAsString(options.recipe()), Map.class);
        if (!mine.equals(recipe)) {
            throw new IllegalArgumentException("--resume: the checkpoint " + dir + " was made with other settings: "
                    + recipe + "; this run asks for " + mine);
        }
        List<Float> vl = new ArrayList<>();
        List<Float> ul = new ArrayList<>();
        for (Object o : (List<Object>) m.get("vae_losses")) {
            vl.add(((Number) o).floatValue());
        }
        for (Object o : (List<Object>) m.get("unet_losses")) {
            ul.add(((Number) o).floatValue());
        }
        List<Float> dl = new ArrayList<>();
        for (Object o : (List<Object>) m.getOrDefault("decoder_losses", List.of())) {
            dl.add(((Number) o).floatValue());
        }
        return new State(((Number) m.get("stage")).intValue(), ((Number) m.get("step")).intValue(),
                ((Number) m.get("optimizer_steps")).longValue(), ((Number) m.get("scaling_factor")).doubleValue(), vl, ul,
                dl, recipe, evals(m.get("vae_eval")), evals(m.get("unet_eval")), evals(m.get("decoder_eval")));
    }

    /** A step -> loss map as state.json holds it (keys are strings in JSON). */
    @SuppressWarnings("unchecked")
    private static Map<Integer, Float> evals(Object json) {
        Map<Integer, Float> r = new java.util.TreeMap<>();
        if (json != null) {
            ((Map<String, Object>) json).forEach((k, v) -> r.put(Integer.parseInt(k), ((Number) v).floatValue()));
        }
        return r;
    }

    /** Writes a checkpoint folder, then points {@code latest} at it and deletes the older ones. */
    private void checkpoint(Networks nets, AdamW adam, State state) throws IOException {
        String name = String.format(java.util.Locale.ROOT, "stage%d-step%07d", state.stage(), state.step());
        Path dir = options.checkpoints().resolve(name);
        Path tmp = options.checkpoints().resolve("." + name + ".tmp");
        deleteTree(tmp);
        Files.createDirectories(tmp);
        Map<String, String> meta = Map.of("format", "pt", "tenstep", "train checkpoint " + name);
        nets.vaeParams().write(tmp.resolve("vae.safetensors"), DataType.FLOAT32, meta);
        nets.unetParams().write(tmp.resolve("unet.safetensors"), DataType.FLOAT32, meta);
        nets.textParams().write(tmp.resolve("text_encoder.safetensors"), DataType.FLOAT32, meta);
        if (adam != null) {
            SafeTensors.write(tmp.resolve("optimizer.safetensors"), adam.state(), meta);
        }
        Map<String, Object> s = new LinkedHashMap<>();
        s.put("stage", state.stage());
        s.put("step", state.step());
        s.put("optimizer_steps", state.optimizerSteps());
        s.put("scaling_factor", state.scalingFactor());
        s.put("recipe", state.recipe());
        s.put("vae_losses", state.vaeLosses());
        s.put("unet_losses", state.unetLosses());
        s.put("vae_eval", state.vaeEval());
        s.put("unet_eval", state.unetEval());
        s.put("decoder_losses", state.decoderLosses());
        s.put("decoder_eval", state.decoderEval());
        AtomicFiles.write(tmp.resolve("state.json"), JSON.writeValueAsBytes(s));
        deleteTree(dir);
        move(tmp, dir);
        AtomicFiles.write(options.checkpoints().resolve(LATEST), (name + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
        try (Stream<Path> old = Files.list(options.checkpoints())) {
            for (Path p : old.filter(p -> p.getFileName().toString().startsWith("stage") && !p.equals(dir)).toList()) {
                deleteTree(p);
            }
        }
        LossChart.write(options.checkpoints().resolve("loss.png"), state.vaeLosses(), state.unetLosses(), state.decoderLosses());
        listener.log("checkpoint " + dir);
    }

    /** Writes the pipeline folder (built beside it, then moved into place, replacing an older one). */
    private Path export(Networks nets, State state) throws IOException {
        Path target = options.output().toAbsolutePath().normalize();
        Files.createDirectories(target.getParent());
        Path tmp = target.resolveSibling("." + target.getFileName() + ".tmp");
        deleteTree(tmp);
        PipelineWriter.writeConfigs(tmp, options.sizes(), state.scalingFactor());
        DataType type = options.half() ? DataType.FLOAT16 : DataType.FLOAT32;
        Map<String, String> meta = Map.of("format", "pt", "tenstep", "trained by tenstep train, seed " + options.seed());
        nets.textParams().write(tmp.resolve(PipelineWriter.TEXT_ENCODER_WEIGHTS), type, meta);
        nets.unetParams().write(tmp.resolve(PipelineWriter.UNET_WEIGHTS), type, meta);
        nets.vaeParams().write(tmp.resolve(PipelineWriter.VAE_WEIGHTS), type, meta);
        Map<String, Object> record = new LinkedHashMap<>();
        record.put("recipe", state.recipe());
        record.put("sizes", options.sizes().describe());
        record.put("scaling_factor", state.scalingFactor());
        record.put("threads", JniUtils.getNumThreads());
        record.put("final_vae_loss", mean(state.vaeLosses(), 50));
        record.put("final_unet_loss", mean(state.unetLosses(), 200));
        record.put("vae_eval", state.vaeEval());
        record.put("unet_eval", state.unetEval());
        record.put("final_decoder_loss", mean(state.decoderLosses(), 50));
        record.put("decoder_eval", state.decoderEval());
        AtomicFiles.write(tmp.resolve("training.json"), JSON.writeValueAsBytes(record));
        LossChart.write(tmp.resolve("loss.png"), state.vaeLosses(), state.unetLosses(), state.decoderLosses());
        AtomicFiles.write(tmp.resolve(LOSS_LOG), lossLog(state).getBytes(java.nio.charset.StandardCharsets.UTF_8));
        deleteTree(target);
        move(tmp, target);
        return target;
    }

    /** The loss of every step, as CSV {@code stage,step,loss} (steps 1-based; the loss exactly as a float prints). */
    static String lossLog(State state) {
        StringBuilder b = new StringBuilder("stage,step,loss\n");
        for (int i = 0; i < state.vaeLosses().size(); i++) {
            b.append("1,").append(i + 1).append(',').append(state.vaeLosses().get(i)).append('\n');
        }
        for (int i = 0; i < state.unetLosses().size(); i++) {
            b.append("2,").append(i + 1).append(',').append(state.unetLosses().get(i)).append('\n');
        }
        for (int i = 0; i < state.decoderLosses().size(); i++) {
            b.append("3,").append(i + 1).append(',').append(state.decoderLosses().get(i)).append('\n');
        }
        return b.toString();
    }

    /** Mean of the last {@code n} values (NaN for none). */
    static double mean(List<Float> values, int n) {
        int from = Math.max(0, values.size() - n);
        double s = 0;
        for (int i = from; i < values.size(); i++) {
            s += values.get(i);
        }
        return values.size() == from ? Double.NaN : s / (values.size() - from);
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to);
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path f : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(f);
            }
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }
}
