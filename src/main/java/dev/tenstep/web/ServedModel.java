package dev.tenstep.web;

import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.TextToImage;

import java.util.Objects;

/**
 * The model the server holds: a {@link TextToImage} with the server's size limit ({@code serve --max-size}) and
 * whether the server owns it (closes it when it switches to another model or stops). Requests are resolved with
 * {@code model().resolve(request, maxSize())}; this is no second model type, only what the server adds to one.
 *
 * @param model   the loaded model
 * @param maxSize largest width or height a request may ask for, 1 to {@link GenerationRequest#MAX_SIZE}; larger
 *                sizes are refused with 400
 * @param owned   true when {@link #close} closes the model (a server that switches models closes the old one
 *                before loading the next); false when the caller owns it
 */
public record ServedModel(TextToImage model, int maxSize, boolean owned) implements AutoCloseable {

    /** @throws IllegalArgumentException if {@code maxSize} is outside 1 to {@link GenerationRequest#MAX_SIZE} */
    public ServedModel {
        Objects.requireNonNull(model, "model");
        if (maxSize < 1 || maxSize > GenerationRequest.MAX_SIZE) {
            throw new IllegalArgumentException("max size must be between 1 and " + GenerationRequest.MAX_SIZE + ", got " + maxSize);
        }
    }

    /** A model the caller owns, with its {@link TextToImage#maxSize default size limit}. */
    public static ServedModel of(TextToImage model) {
        return of(model, model.maxSize());
    }

    /** A model the caller owns, with the given size limit. */
    public static ServedModel of(TextToImage model, int maxSize) {
        return new ServedModel(model, maxSize, false);
    }

    /** A model the server owns: {@link #close} closes it. */
    public static ServedModel owning(TextToImage model, int maxSize) {
        return new ServedModel(model, maxSize, true);
    }

    /** Closes the model when the server owns it; does nothing otherwise. */
    @Override
    public void close() {
        if (owned) {
            model.close();
        }
    }
}
