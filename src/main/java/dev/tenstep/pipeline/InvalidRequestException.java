package dev.tenstep.pipeline;

import java.util.List;

/**
 * A generation request with invalid fields. Carries one {@link FieldError} per problem, so every
 * adapter reports them in its own terms (the web API as {@code {"field", "message"}} objects with
 * HTTP 400, the CLI as option names, batches as {@code file:line} messages) without parsing text.
 */
public class InvalidRequestException extends IllegalArgumentException {
    private final List<FieldError> fieldErrors;

    /** @param fieldErrors at least one error */
    public InvalidRequestException(List<FieldError> fieldErrors) {
        super(String.join("; ", fieldErrors.stream().map(FieldError::toString).toList()));
        this.fieldErrors = List.copyOf(fieldErrors);
    }

    /** One error for one field. */
    public static InvalidRequestException of(String field, String message) {
        return new InvalidRequestException(List.of(new FieldError(field, message)));
    }

    /** The errors, in the order the fields were checked. */
    public List<FieldError> fieldErrors() {
        return fieldErrors;
    }
}
