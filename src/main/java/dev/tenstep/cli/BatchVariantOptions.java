package dev.tenstep.cli;

import dev.tenstep.batch.Variant;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.util.List;

/**
 * The options {@code batch} and {@code spark-batch} share beyond the generation options: the {@code --compare}
 * columns and {@code --resume}. One declaration, so both commands parse and document them the same way.
 */
final class BatchVariantOptions {
    @Option(names = "--compare", paramLabel = "SAMPLER:SCHEDULE[,...]",
            description = "Render every line once per sampler[:schedule[:gamma]] with the same seed and starting noise, "
                    + "e.g. ddim:ddim,ge:log-linear. Overrides the lines' own sampler, schedule and gamma.")
    String compare;

    @Option(names = "--resume", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Skip images whose manifest record and intact file exist (default: on). "
                    + "--no-resume starts the manifest over.")
    boolean resume;

    /**
     * The {@code --compare} columns, or an empty list without the option.
     *
     * @throws CommandLine.ParameterException naming {@code --compare} for an unknown sampler or schedule or a bad gamma
     */
    List<Variant> variants(CommandLine cmd) {
        if (compare == null) {
            return List.of();
        }
        try {
            return Variant.parseList(compare);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd, "--compare: " + e.getMessage());
        }
    }
}
