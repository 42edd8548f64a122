package dev.tenstep.web;

/** An error answered as JSON {@code {"error": message}} with the given HTTP status (mapped in {@link WebApp}). */
public class ApiException extends RuntimeException {
    private final int status;

    public ApiException(int status, String message) {
        super(message);
        this.status = status;
    }

    public int status() {
        return status;
    }
}
