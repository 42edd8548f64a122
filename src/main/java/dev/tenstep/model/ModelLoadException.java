package dev.tenstep.model;

/** A model folder that cannot be loaded: missing file, missing/unexpected/mis-shaped weight, unsupported config. */
public class ModelLoadException extends RuntimeException {
    public ModelLoadException(String message) {
        super(message);
    }

    public ModelLoadException(String message, Throwable cause) {
        super(message, cause);
    }
}
