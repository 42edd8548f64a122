package dev.tenstep.cli;

import dev.tenstep.fidelity.FidelityResult;
import dev.tenstep.fidelity.FidelityStudy;
import dev.tenstep.fidelity.SamplerSpec;
import dev.tenstep.pipeline.IdealPipeline;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import dev.tenstep.pipeline.TextToImage;
import dev.tenstep.sampling.ideal.IdealModels;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code fidelity}: how close N steps of each sampler get to a converged reference solve (see docs/fidelity.md). */
@Command(name = "fidelity", mixinStandardHelpOptions = true,
        description = "Measure how close N steps of each sampler get to a converged reference solve of the same "
                + "probability-flow ODE (same initial noise and start level): latent RMSE and PSNR per sampler and N, "
                + "written as fidelity.json, fidelity.csv and a log-log chart fidelity.png. See docs/fidelity.md.")
public final class FidelityCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "MODEL",
            description = "ideal:shapes (built-in data set), ideal:DIR (PNGs with .txt captions) or a diffusers "
                    + "folder (default: the model under models/, else ideal:shapes)")
    String model;

    @Option(names = {"-p", "--prompt"}, required = true, paramLabel = "TEXT", description = "prompt (repeat for several)")
    List<String> prompts;

    @Option(names = {"-n", "--negative-prompt"}, defaultValue = "", paramLabel = "TEXT", description = "negative prompt")
    String negativePrompt;

    @Option(names = "--cfg-scale", paramLabel = "W",
            description = "guidance scale (default: the model's, as generate uses it: 3 for the built-in models, 7.5 for SD)")
    Double cfgScale;

    @Option(names = "--seeds", defaultValue = "0-7", paramLabel = "LIST",
            description = "seeds: ranges and numbers, e.g. 0-31 or 1,5,9 (default: ${DEFAULT-VALUE})")
    String seeds;

    @Option(names = "--sampler", split = ",", paramLabel = "SAMPLER[:SCHEDULE]",
            description = "samplers to compare: ddim, ge, dpmpp-2m, each with an optional schedule (ddim, trailing, "
                    + "log-linear, karras, log-linear-continuous) (default: ge:log-linear,ddim:ddim,dpmpp-2m:karras)")
    List<String> samplers;

    @Option(names = "--steps", split = ",", defaultValue = "5,10,20", paramLabel = "N,...",
            description = "step counts (default: ${DEFAULT-VALUE})")
    List<Integer> steps;

    @Option(names = "--reference-steps", defaultValue = "1000",
            description = "steps of the reference solve, DDIM on continuous log-linear (default: ${DEFAULT-VALUE})")
    int referenceSteps;

    @Option(names = "--check-steps", paramLabel = "N",
            description = "steps of the reference's convergence check, 0 to skip (default: half the reference steps)")
    Integer checkSteps;

    @Option(names = "--reference-start", defaultValue = "run", paramLabel = "run|sigma-max",
            description = "where the reference starts: each run's top level (run) or sigma(T-1) for all (default: ${DEFAULT-VALUE})")
    String referenceStart;

    @Option(names = "--size", paramLabel = "PX", description = "image size for a diffusers model (default: the model's)")
    Integer size;

    @Option(names = "--threads", converter = ThreadsConverter.class,
            description = "seeds solved in parallel (default: the machine's cores for an ideal model, 1 otherwise)")
    Integer threads;

    @Option(names = {"-o", "--output"}, paramLabel = "DIR",
            description = "folder for fidelity.json, fidelity.csv, fidelity.png (default: outputs/fidelity)")
    Path output;

    public FidelityCommand() {
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        CommandLine cmd = spec.commandLine();
        List<SamplerSpec> specs = new ArrayList<>();
        try {
            for (String s : samplers == null ? List.of("ge:log-linear", "ddim:ddim", "dpmpp-2m:karras") : samplers) {
                specs.add(SamplerSpec.parse(s));
            }
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd, "--sampler: " + e.getMessage());
        }
        List<Long> seedList = parseSeeds(cmd, seeds);
        FidelityStudy.ReferenceStart start = switch (referenceStart.toLowerCase(Locale.ROOT)) {
            case "run" -> FidelityStudy.ReferenceStart.RUN;
            case "sigma-max", "sigma_max" -> FidelityStudy.ReferenceStart.SIGMA_MAX;
            default -> throw new CommandLine.ParameterException(cmd, "--reference-start: expected run or sigma-max, got "
                    + referenceStart);
        };
        String name = model;
        if (name == null) {
            name = ModelLocator.defaultFolder(ModelLocator.defaultModelsDir()).map(Path::toString).orElse(IdealModels.SHAPES);
        }
        boolean ideal = IdealModels.isIdeal(name);
        int nThreads = threads != null ? threads : ideal ? Runtime.getRuntime().availableProcessors() : 1;
        // checked before the model loads (with the given scale, or a stand-in), built again with the model's default
        options(cmd, cfgScale != null ? cfgScale : 1.0, seedList, specs, nThreads, start);
        Path dir = output != null ? output : ModelLocator.defaultOutputsDir().resolve("fidelity");
        TextToImage studyModel = null;
        try {
            if (ideal) {
                try {
                    studyModel = IdealPipeline.load(name);
                } catch (IllegalArgumentException e) {
                    throw new CommandLine.ParameterException(cmd, "--model: " + e.getMessage());
                }
            } else {
                Path p = ModelLocator.modelOption(cmd, Path.of(name));
                studyModel = StableDiffusionPipeline.load(p);
                if (size != null && (size < studyModel.sizeMultiple() || size % studyModel.sizeMultiple() != 0)) {
                    throw new CommandLine.ParameterException(cmd, "--size must be a positive multiple of "
                            + studyModel.sizeMultiple() + " for " + studyModel.name() + ", got " + size);
                }
            }
            double w = cfgScale != null ? cfgScale : studyModel.defaults().guidanceScale();
            FidelityStudy.Options options = options(cmd, w, seedList, specs, nThreads, start);
            out.printf(Locale.ROOT, "fidelity study: %s, %d prompt(s) x %d seeds, CFG %s%s, samplers %s, N = %s, reference %d steps%n",
                    studyModel.name(), prompts.size(), seedList.size(), w, cfgScale != null ? "" : " (the model's default)",
                    specs, steps, referenceSteps);
            out.flush();
            long t0 = System.nanoTime();
            FidelityResult result;
            try {
                result = new FidelityStudy(studyModel, ideal ? null : size, options).run(line -> {
                    out.println(line);
                    out.flush();
                });
            } catch (IllegalArgumentException e) {
                cmd.getErr().println("error: " + e.getMessage());
                return spec.exitCodeOnInvalidInput();
            }
            out.println();
            out.print(result.table());
            List<Path> files = result.write(dir);
            out.printf("wrote %s (%.0f s)%n", files, (System.nanoTime() - t0) / 1e9);
            return 0;
        } finally {
            if (studyModel != null) {
                studyModel.close();
            }
        }
    }

    /**
     * The study's options at guidance scale {@code w}.
     *
     * @throws CommandLine.ParameterException with the option's problem (empty lists, bad step counts, a gamma)
     */
    private FidelityStudy.Options options(CommandLine cmd, double w, List<Long> seedList, List<SamplerSpec> specs,
                                          int nThreads, FidelityStudy.ReferenceStart start) {
        try {
            return new FidelityStudy.Options(prompts, negativePrompt, w, seedList, specs, steps, referenceSteps,
                    checkSteps != null ? checkSteps : referenceSteps / 2, nThreads, start);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd, e.getMessage());
        }
    }

    /**
     * Parses a seed list: comma-separated numbers and inclusive ranges {@code A-B}.
     *
     * @throws CommandLine.ParameterException naming --seeds
     */
    static List<Long> parseSeeds(CommandLine cmd, String text) {
        List<Long> out = new ArrayList<>();
        try {
            for (String part : text.split(",")) {
                String p = part.trim();
                int dash = p.indexOf('-', 1);
                if (dash > 0) {
                    long a = Long.parseLong(p.substring(0, dash).trim());
                    long b = Long.parseLong(p.substring(dash + 1).trim());
                    if (b < a || b - a >= 100_000) {
                        throw new CommandLine.ParameterException(cmd, "--seeds: invalid range " + p);
                    }
                    for (long s = a; s <= b; s++) {
                        out.add(s);
                    }
                } else if (!p.isEmpty()) {
                    out.add(Long.parseLong(p));
                }
            }
        } catch (NumberFormatException e) {
            throw new CommandLine.ParameterException(cmd, "--seeds: expected numbers and ranges like 0-31 or 1,5,9, got " + text);
        }
        if (out.isEmpty()) {
            throw new CommandLine.ParameterException(cmd, "--seeds: no seed in '" + text + "'");
        }
        return out;
    }
}
