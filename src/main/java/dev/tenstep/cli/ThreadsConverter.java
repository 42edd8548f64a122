package dev.tenstep.cli;

import picocli.CommandLine;

/**
 * The {@code --threads} value of {@code generate}, {@code batch} and {@code bench}: a whole number of
 * intra-op CPU threads, at least 1. Zero or a negative number is a bad command line (exit 2, naming
 * {@code --threads}) rather than silently meaning "every core"; leaving the option out means that.
 */
public final class ThreadsConverter implements CommandLine.ITypeConverter<Integer> {
    @Override
    public Integer convert(String value) {
        int n;
        try {
            n = Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new CommandLine.TypeConversionException("'" + value + "' is not a whole number of threads");
        }
        if (n < 1) {
            throw new CommandLine.TypeConversionException("must be at least 1, got " + n
                    + " (leave --threads out to use every core)");
        }
        return n;
    }
}
