package dev.tenstep.pipeline;

import java.util.List;

/** A generation request with invalid fields; each error names its field (e.g. {@code "width: must be a multiple of 8, got 500"}). */
public class InvalidRequestException extends IllegalArgumentException {
    private final List<String> errors;

    public InvalidRequestException(List<String> errors) {
        super(String.join("; ", errors));
        this.errors = List.copyOf(errors);
    }

    public List<String> errors() {
        return errors;
    }
}
