package dev.tenstep.pipeline.prompt;

/** A prompt that the A1111 syntax cannot read (e.g. an emphasis weight like {@code (x:1.2.3)}); the message names it. */
public final class PromptSyntaxException extends IllegalArgumentException {
    public PromptSyntaxException(String message) {
        super(message);
    }
}
