package dev.tenstep.model;

/** A model folder that cannot be loaded: missing file, missing/unexpected/mis-shaped weight, unsupported config. */
public class ModelLoadException extends RuntimeException {
    private final boolean needsConfig;

    public ModelLoadException(String message) {
        this(message, null, false);
    }

    public ModelLoadException(String message, Throwable cause) {
        this(message, cause, cause instanceof ModelLoadException m && m.needsConfig);
    }

    private ModelLoadException(String message, Throwable cause, boolean needsConfig) {
        super(message, cause);
        this.needsConfig = needsConfig;
    }

    /**
     * A single-file checkpoint whose tensor shapes match no known release: only a config folder ({@code --config})
     * can open it. Callers that offer {@code --config} use {@link #needsConfig()} to point at it only then (not for
     * a missing, truncated or corrupt file, which no config helps).
     */
    public static ModelLoadException needingConfig(String message) {
        return new ModelLoadException(message, null, true);
    }

    /** Whether a config folder ({@code --config}) would let the model load; kept by a wrapping exception. */
    public boolean needsConfig() {
        return needsConfig;
    }
}
