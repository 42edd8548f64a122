package dev.tenstep.batch.spark;

import dev.tenstep.batch.GenerationOptions;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

import java.util.ArrayList;
import java.util.List;

/**
 * The batch defaults ({@link GenerationOptions}) as option words, so they travel to the executors as strings and
 * are parsed there by the same picocli mixin as on the driver: every option with a value as
 * {@code --name=value} (the {@code =} form, so a value that starts with {@code -} stays a value).
 */
final class OptionArgs {
    private OptionArgs() {
    }

    @Command(name = "defaults")
    static final class Defaults {
        @Mixin
        GenerationOptions gen = new GenerationOptions();
    }

    /** The words of every option of {@code options} that has a value. */
    static ArrayList<String> of(GenerationOptions options) {
        ArrayList<String> out = new ArrayList<>();
        for (OptionSpec o : CommandSpec.forAnnotatedObject(options).options()) {
            Object v = o.getValue();
            if (v != null) {
                out.add(o.longestName() + "=" + v);
            }
        }
        return out;
    }

    /**
     * Options parsed from {@link #of}'s words.
     *
     * @throws CommandLine.ParameterException if a word is not an option of {@link GenerationOptions}
     */
    static GenerationOptions parse(List<String> words) {
        Defaults d = new Defaults();
        new CommandLine(d).parseArgs(words.toArray(String[]::new));
        return d.gen;
    }
}
