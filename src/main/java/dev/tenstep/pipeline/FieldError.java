package dev.tenstep.pipeline;

import java.util.Objects;

/**
 * One invalid request field: the field's API name (snake_case, as in the JSON API and the A1111 API,
 * e.g. {@code cfg_scale}; {@code body} or {@code request} for the whole request) and what is wrong,
 * quoting the value that was sent. The CLI maps {@link #field} to its option ({@code --cfg-scale}).
 *
 * @param field   the field's API name, never null
 * @param message what is wrong, e.g. {@code must be a multiple of 8, got 500}
 */
public record FieldError(String field, String message) {
    public FieldError {
        Objects.requireNonNull(field, "field");
        Objects.requireNonNull(message, "message");
    }

    /** {@code field: message}, the form used in one-line error texts. */
    @Override
    public String toString() {
        return field + ": " + message;
    }
}
