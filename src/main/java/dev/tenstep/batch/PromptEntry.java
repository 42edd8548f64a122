package dev.tenstep.batch;

import dev.tenstep.pipeline.GenerationRequest;

/**
 * One prompt line of a prompt file: either a request (the batch defaults overlaid with the line's
 * options) or the reason the line could not be parsed.
 *
 * @param file     the prompt file as given on the command line (for messages)
 * @param line     1-based line number
 * @param index    0-based position of the entry among all prompt lines of the batch (seed = base + index)
 * @param request  the request, or null when {@code error} is set; its seed is meaningful only when
 *                 {@code seedMode} is {@link SeedMode#FIXED}
 * @param seedMode where the line's seed comes from (null when {@code error} is set)
 * @param error    why the line is invalid (without the location), or null
 */
public record PromptEntry(java.nio.file.Path file, int line, int index, GenerationRequest request, SeedMode seedMode,
                          String error) {

    /** Where the seed of a prompt line comes from. */
    public enum SeedMode {
        /** The line does not set {@code --seed}: the batch's seed base + the line's index. */
        BASE,
        /** The line sets {@code --seed N} with N >= 0: exactly N. */
        FIXED,
        /**
         * The line sets a negative {@code --seed} (as in {@code generate}: random): a seed is drawn once,
         * printed and stored in the manifest ({@code random_seed: true}), and {@code --resume} reuses it.
         */
        RANDOM
    }

    /** Whether the line set a seed of its own ({@code --seed N} with N >= 0). */
    public boolean seedSet() {
        return seedMode == SeedMode.FIXED;
    }

    /** Whether the line asked for a random seed ({@code --seed} negative). */
    public boolean randomSeed() {
        return seedMode == SeedMode.RANDOM;
    }

    /** {@code file:line}, as in messages and the manifest's {@code source}. */
    public String location() {
        return file + ":" + line;
    }

    /** {@code file:line: error}, or null for a valid line. */
    public String message() {
        return error == null ? null : location() + ": " + error;
    }

    public boolean ok() {
        return error == null;
    }
}
