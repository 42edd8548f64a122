package dev.tenstep.cli;

import dev.tenstep.train.ModelSizes;
import dev.tenstep.train.TrainOptions;
import dev.tenstep.train.Trainer;
import dev.tenstep.train.TrainingData;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code train}: trains a small Stable Diffusion pipeline (CLIP text encoder with CLIP's vocabulary,
 * UNet with cross-attention, VAE) with libtorch's autograd through the project's model code, and
 * writes it in the diffusers layout (see {@link Trainer}). Resumable from its checkpoints.
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Train a small SD-architecture pipeline (VAE, then UNet + text encoder) and write it as a diffusers folder.")
public final class TrainCommand implements Callable<Integer> {
    @Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "DIR",
            description = "pipeline folder to write at the end (replaced if it exists)")
    Path output;

    @Option(names = "--checkpoints", paramLabel = "DIR",
            description = "folder of the checkpoints (default: OUTPUT.checkpoints beside the output)")
    Path checkpoints;

    @Option(names = "--resume", description = "continue from the latest checkpoint (same settings required)")
    boolean resume;

    @Option(names = "--data", paramLabel = "DIR",
            description = "folder of NAME.png + NAME.txt pairs (default: generated shapes pictures)")
    Path data;

    @Option(names = "--sizes", defaultValue = "small", paramLabel = "small|tiny",
            description = "model sizes (default: ${DEFAULT-VALUE})")
    String sizes;

    @Option(names = "--seed", defaultValue = "1", description = "seed of the weights and every random draw (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--vae-steps", defaultValue = "3000", description = "stage 1 (VAE) steps (default: ${DEFAULT-VALUE})")
    int vaeSteps;

    @Option(names = "--unet-steps", defaultValue = "3500", description = "stage 2 (UNet + text encoder) steps (default: ${DEFAULT-VALUE})")
    int unetSteps;

    @Option(names = "--decoder-steps", defaultValue = "500",
            description = "stage 3 steps: the VAE decoder alone on the encoder's posterior means (default: ${DEFAULT-VALUE}; docs/training.md)")
    int decoderSteps;

    @Option(names = "--vae-batch", defaultValue = "8", description = "pictures per VAE step (default: ${DEFAULT-VALUE})")
    int vaeBatch;

    @Option(names = "--unet-batch", defaultValue = "32", description = "pictures per UNet step (default: ${DEFAULT-VALUE})")
    int unetBatch;

    @Option(names = "--vae-lr", defaultValue = "1e-3", description = "stage 1 peak learning rate (default: ${DEFAULT-VALUE})")
    double vaeLr;

    @Option(names = "--unet-lr", defaultValue = "1e-3", description = "stage 2 peak learning rate (default: ${DEFAULT-VALUE})")
    double unetLr;

    @Option(names = "--warmup", defaultValue = "100", description = "warm-up steps per stage (default: ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--kl-weight", defaultValue = "1e-3", description = "KL weight against the L1 reconstruction (default: ${DEFAULT-VALUE})")
    double klWeight;

    @Option(names = "--caption-dropout", defaultValue = "0.1",
            description = "probability of training on the empty prompt (default: ${DEFAULT-VALUE})")
    double captionDropout;

    @Option(names = "--snr-gamma", defaultValue = "5",
            description = "min-SNR-gamma weighting of the UNet's eps loss, 0 = off (default: ${DEFAULT-VALUE}; docs/training.md)")
    double snrGamma;

    @Option(names = "--checkpoint-every", defaultValue = "250", description = "steps between checkpoints (default: ${DEFAULT-VALUE})")
    int checkpointEvery;

    @Option(names = "--fp32", description = "write the pipeline's weights as fp32 (default: fp16, half the size)")
    boolean fp32;

    @Option(names = "--stop-after", defaultValue = "0", hidden = true,
            description = "stop after this many steps in this call (0 = run to the end); for tests of --resume")
    int stopAfter;

    @Option(names = "--threads", converter = ThreadsConverter.class,
            description = "Intra-op CPU threads, at least 1 (default: number of cores).")
    Integer threads;

    @Option(names = "--no-progress", description = "one log line per 50 steps instead of a progress bar")
    boolean noProgress;

    @Override
    public Integer call() throws IOException {
        CommandLine cmd = spec.commandLine();
        PrintWriter out = cmd.getOut();
        PrintWriter err = cmd.getErr();
        TrainOptions options;
        try {
            ModelSizes s = ModelSizes.named(sizes);
            TrainingData d = data == null ? TrainingData.shapes(s.imageSize()) : TrainingData.folder(data, s.imageSize());
            Path ckpt = checkpoints != null ? checkpoints
                    : output.toAbsolutePath().normalize().resolveSibling(output.getFileName() + ".checkpoints");
            options = new TrainOptions(output, ckpt, sizes.toLowerCase(Locale.ROOT), s, d, seed, vaeSteps, unetSteps, decoderSteps,
                    vaeBatch, unetBatch, vaeLr, unetLr, warmup, klWeight, captionDropout, snrGamma, checkpointEvery, !fp32);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd, e.getMessage());
        }
        DjlEnvironment.threads(threads);
        boolean useBar = !noProgress && Terminals.stderrIsTerminal();
        ProgressBar[] bar = new ProgressBar[1];
        int[] barStage = {0};
        long[] started = {System.nanoTime()};
        Trainer.Listener listener = new Trainer.Listener() {
            @Override
            public void step(int stage, int step, int total, float loss) {
                if (useBar) {
                    if (barStage[0] != stage) {
                        if (bar[0] != null) {
                            bar[0].close();
                        }
                        bar[0] = new ProgressBarBuilder().setTaskName(stage == 1 ? "VAE" : "UNet").setInitialMax(total)
                                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500).build();
                        barStage[0] = stage;
                    }
                    bar[0].stepTo(step);
                    bar[0].setExtraMessage(String.format(Locale.ROOT, "loss %.4f", loss));
                } else if (step % 50 == 0 || step == total || step == 1) {
                    double sec = (System.nanoTime() - started[0]) / 1e9;
                    err.println(String.format(Locale.ROOT, "stage %d step %d/%d loss %.5f (%.1f s)", stage, step, total, loss, sec));
                    err.flush();
                }
            }

            @Override
            public void log(String line) {
                if (bar[0] != null) {
                    bar[0].close();
                    bar[0] = null;
                    barStage[0] = 0;
                }
                err.println(line);
                err.flush();
            }
        };
        try {
            Path written = new Trainer(options, listener).run(resume, stopAfter);
            if (bar[0] != null) {
                bar[0].close();
            }
            if (written == null) {
                out.println("stopped after " + stopAfter + " steps; continue with --resume (checkpoints in " + options.checkpoints() + ")");
            } else {
                out.println("wrote the trained pipeline to " + written);
            }
            return 0;
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd, e.getMessage());
        }
    }
}
