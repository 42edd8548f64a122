package dev.tenstep.cli;

import dev.tenstep.fidelity.AccuracyStudy;
import dev.tenstep.fidelity.SamplerSpec;
import dev.tenstep.io.AtomicFiles;
import dev.tenstep.pipeline.TextToImage;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code accuracy}: how often a model draws the colour and shape a prompt of the shapes grammar asks
 * for, per sampler, N and guidance scale (docs/fidelity.md, "Prompt accuracy").
 */
@Command(name = "accuracy", mixinStandardHelpOptions = true,
        description = "Measure prompt accuracy over the shapes grammar: generate each prompt x seed with every "
                + "sampler, step count and guidance scale, read the picture's foreground colour and shape back "
                + "(no human, no learned judge) and count the pictures that match the prompt. Prints a Markdown "
                + "table and writes accuracy.md. See docs/fidelity.md.")
public final class AccuracyCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "MODEL",
            description = "ideal:shapes, ideal:DIR or a diffusers folder trained on the shapes grammar (default: the model under models/, as serve picks it: the built-in tenstep-shapes on a fresh clone)")
    Path model;

    @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT",
            description = "prompt naming a colour and a shape (repeat for several; default: eight prompts over the grammar)")
    List<String> prompts;

    @Option(names = {"-n", "--negative-prompt"}, defaultValue = "", paramLabel = "TEXT", description = "negative prompt")
    String negativePrompt;

    @Option(names = "--cfg-scale", split = ",", defaultValue = "1,3,7.5", paramLabel = "W,...",
            description = "guidance scales (default: ${DEFAULT-VALUE})")
    List<Double> cfgScales;

    @Option(names = "--seeds", defaultValue = "0-3", paramLabel = "LIST",
            description = "seeds: ranges and numbers, e.g. 0-31 or 1,5,9 (default: ${DEFAULT-VALUE})")
    String seeds;

    @Option(names = "--sampler", split = ",", paramLabel = "SAMPLER[:SCHEDULE[:GAMMA]]",
            description = "samplers: ddim, ge, dpmpp-2m, each with an optional schedule, GE with an optional gamma "
                    + "(ge:log-linear:1.5) (default: ddim:ddim,ddim:log-linear,ge:log-linear,dpmpp-2m:karras)")
    List<String> samplers;

    @Option(names = "--steps", split = ",", defaultValue = "5,10,20", paramLabel = "N,...",
            description = "step counts (default: ${DEFAULT-VALUE})")
    List<Integer> steps;

    @Option(names = {"-o", "--output"}, paramLabel = "DIR", description = "folder for accuracy.md (default: outputs/accuracy)")
    Path output;

    public AccuracyCommand() {
    }

    @Override
    public Integer call() throws Exception {
        CommandLine cmd = spec.commandLine();
        PrintWriter out = cmd.getOut();
        List<SamplerSpec> specs = new ArrayList<>();
        try {
            for (String s : samplers == null ? List.of("ddim:ddim", "ddim:log-linear", "ge:log-linear", "dpmpp-2m:karras") : samplers) {
                specs.add(SamplerSpec.parse(s));
            }
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd, "--sampler: " + e.getMessage());
        }
        AccuracyStudy.Spec study;
        try {
            study = new AccuracyStudy.Spec(prompts == null ? AccuracyStudy.DEFAULT_PROMPTS : prompts, negativePrompt,
                    FidelityCommand.parseSeeds(cmd, seeds), specs, steps, cfgScales);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd, e.getMessage());
        }
        Path m = ModelLocator.modelOrDefault(model, cmd.getErr());
        try (TextToImage t = ModelLocator.open(cmd, m)) {
            out.printf("accuracy: %s, %d prompt(s) x %d seed(s), samplers %s, N = %s, CFG %s%n", t.name(),
                    study.prompts().size(), study.seeds().size(), specs, steps, cfgScales);
            out.flush();
            long t0 = System.nanoTime();
            List<AccuracyStudy.Cell> cells = AccuracyStudy.run(t, study, line -> {
                out.println(line);
                out.flush();
            });
            String table = AccuracyStudy.markdown(study, cells);
            out.println();
            out.print(table);
            Path dir = output != null ? output : ModelLocator.defaultOutputsDir().resolve("accuracy");
            Path file = dir.resolve("accuracy.md");
            Files.createDirectories(dir);
            String doc = "Prompt accuracy of " + t.name() + " (colour and shape right), " + study.prompts().size()
                    + " prompts x " + study.seeds().size() + " seeds per cell\n\n" + table;
            AtomicFiles.write(file, doc.getBytes(StandardCharsets.UTF_8));
            out.printf("wrote %s (%.0f s)%n", file, (System.nanoTime() - t0) / 1e9);
            return 0;
        }
    }
}
