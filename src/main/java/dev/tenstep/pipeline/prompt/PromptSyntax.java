package dev.tenstep.pipeline.prompt;

import java.util.Locale;

/**
 * How prompt text is read. {@link #A1111} (default): emphasis, {@code BREAK}, prompt editing and alternation
 * ({@link Emphasis}, {@link PromptSchedule}); {@link #PLAIN}: every character is literal text. Both encode long
 * prompts in 75-token chunks.
 */
public enum PromptSyntax {
    A1111("a1111"),
    PLAIN("plain");

    private final String id;

    PromptSyntax(String id) {
        this.id = id;
    }

    /** The option value ({@code a1111} or {@code plain}). */
    public String id() {
        return id;
    }

    /**
     * Parses {@code a1111} or {@code plain} (case-insensitive).
     *
     * @throws IllegalArgumentException naming the valid values
     */
    public static PromptSyntax parse(String s) {
        String v = s == null ? "" : s.strip().toLowerCase(Locale.ROOT);
        for (PromptSyntax p : values()) {
            if (p.id.equals(v)) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown prompt syntax '" + s + "' (valid: a1111, plain)");
    }
}
