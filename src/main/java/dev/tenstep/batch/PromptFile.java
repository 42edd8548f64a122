package dev.tenstep.batch;

import dev.tenstep.batch.GenerationOptions;
import dev.tenstep.pipeline.prompt.PromptSyntax;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A1111's "prompts from file" format:
 * <ul>
 *   <li>a blank line, or one whose first non-blank character is {@code #}, is skipped;</li>
 *   <li>a line starting with {@code --} is options, split with shell quoting ({@link ShellWords}) and
 *       parsed by picocli with the same {@link GenerationOptions} mixin as {@code generate}, so
 *       {@code --prompt "..." --negative_prompt "..." --steps 10 --cfg_scale 7 --seed 5
 *       --sampler_name ddim --width 64 --height 64} is accepted;</li>
 *   <li>any other line is a prompt (trimmed), with every other option from the batch defaults.</li>
 * </ul>
 * Options a line does not set come from the batch defaults; a line without {@code --seed} gets the
 * batch's seed base + its index, and a negative {@code --seed} means random, as in {@code generate}
 * (see {@link PromptEntry.SeedMode}). A bad line becomes a
 * {@link PromptEntry} with an error ({@link PromptEntry#message()} names {@code file:line}); parsing goes on.
 */
public final class PromptFile {
    private PromptFile() {
    }

    /** The picocli command one option line is parsed with. */
    @Command(name = "prompt-line")
    static final class LineCommand {
        @Mixin
        GenerationOptions gen = new GenerationOptions();
    }

    /**
     * Parses a prompt file.
     *
     * @param file       the file
     * @param defaults   the batch defaults (not modified)
     * @param firstIndex the index of the file's first prompt line in the batch
     */
    public static List<PromptEntry> read(Path file, GenerationOptions defaults, int firstIndex) throws IOException {
        return parse(file, Files.readAllLines(file, StandardCharsets.UTF_8), defaults, firstIndex);
    }

    /** Parses the lines of a prompt file ({@code file} only names it in messages). */
    public static List<PromptEntry> parse(Path file, List<String> lines, GenerationOptions defaults, int firstIndex) {
        List<PromptEntry> out = new ArrayList<>();
        for (Line l : promptLines(lines)) {
            out.add(parseLine(file, l.number(), firstIndex + out.size(), l.text(), defaults));
        }
        return out;
    }

    /**
     * A prompt line of a file: its 1-based number and its text, trimmed (a byte-order mark on the first line
     * removed), as {@link #parseLine} takes it.
     */
    public record Line(int number, String text) {
    }

    /** The prompt lines of a file's lines: blank lines and {@code #} comments skipped. */
    public static List<Line> promptLines(List<String> lines) {
        List<Line> out = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String text = lines.get(i);
            if (i == 0 && text.startsWith("\uFEFF")) {
                text = text.substring(1);
            }
            text = text.strip();
            if (text.isEmpty() || text.startsWith("#")) {
                continue;
            }
            out.add(new Line(i + 1, text));
        }
        return out;
    }

    /** Parses one non-blank, non-comment line. */
    public static PromptEntry parseLine(Path file, int line, int index, String text, GenerationOptions defaults) {
        return entry(file, line, index, text, !text.startsWith("--"), false, defaults);
    }

    /**
     * An entry whose prompt is {@code prompt} exactly, every option from the defaults: a caption of a captions file
     * ({@link CaptionsFile}), which is text even when it starts with {@code --} or {@code #}. It is read as plain
     * text (brackets are no emphasis) unless the defaults set {@code --prompt-syntax}.
     *
     * @param line the entry's position in its file, 1-based (for a captions file: the annotation's)
     */
    public static PromptEntry plainPrompt(Path file, int line, int index, String prompt, GenerationOptions defaults) {
        return entry(file, line, index, prompt, true, true, defaults);
    }

    /**
     * @param plain   {@code text} is the prompt, not option words
     * @param literal the prompt is a caption: plain prompt syntax unless the defaults set one
     */
    private static PromptEntry entry(Path file, int line, int index, String text, boolean plain, boolean literal,
                                     GenerationOptions defaults) {
        LineCommand lc = new LineCommand();
        CommandLine cl = new CommandLine(lc);
        ParseResult parsed = null;
        try {
            if (!plain) {
                parsed = cl.parseArgs(ShellWords.split(text).toArray(String[]::new));
            } else {
                parsed = cl.parseArgs();
            }
        } catch (IllegalArgumentException | CommandLine.ParameterException e) {
            return new PromptEntry(file, line, index, null, null, message(e));
        }
        overlayDefaults(cl.getCommandSpec(), parsed, defaults);
        if (plain) {
            lc.gen.prompt = text;
        }
        if (literal && lc.gen.promptSyntax == null) {
            lc.gen.promptSyntax = PromptSyntax.PLAIN.id();
        }
        try {
            lc.gen.validate(cl);
        } catch (CommandLine.ParameterException e) {
            return new PromptEntry(file, line, index, null, null, e.getMessage());
        }
        PromptEntry.SeedMode seed = !parsed.hasMatchedOption("--seed") ? PromptEntry.SeedMode.BASE
                : lc.gen.seed >= 0 ? PromptEntry.SeedMode.FIXED : PromptEntry.SeedMode.RANDOM;
        return new PromptEntry(file, line, index, lc.gen.toRequest(), seed, null);
    }

    /** Sets every option the line did not match to the batch default's value (generic over the mixin's options). */
    private static void overlayDefaults(CommandSpec line, ParseResult parsed, GenerationOptions defaults) {
        CommandSpec batch = CommandSpec.forAnnotatedObject(defaults);
        for (OptionSpec o : line.options()) {
            if (!parsed.hasMatchedOption(o)) {
                OptionSpec d = batch.findOption(o.longestName());
                if (d != null) {
                    o.setValue(d.getValue());
                }
            }
        }
    }

    private static String message(Exception e) {
        String m = e.getMessage();
        if (e instanceof IllegalArgumentException && !(e instanceof CommandLine.ParameterException)) {
            return "bad quoting: " + m;
        }
        return m;
    }
}
