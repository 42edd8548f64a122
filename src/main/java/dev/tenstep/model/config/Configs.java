package dev.tenstep.model.config;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.model.ModelLoadException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Reads the diffusers/transformers JSON configs of a pipeline folder into records. */
public final class Configs {
    static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
            .configure(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES, false);

    private Configs() {
    }

    /**
     * Reads {@code file} as {@code type}, then validates it.
     *
     * @throws ModelLoadException naming the file when it is missing, malformed or unsupported
     */
    public static <T> T read(Path file, Class<T> type) {
        if (!Files.isRegularFile(file)) {
            throw new ModelLoadException("missing config file " + file);
        }
        try {
            return JSON.readValue(file.toFile(), type);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            String msg = cause instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : cause.getMessage();
            throw new ModelLoadException(file + ": " + msg, e);
        } catch (IOException e) {
            throw new ModelLoadException(file + ": cannot read: " + e.getMessage(), e);
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            throw new ModelLoadException(file + ": " + e.getMessage(), e);
        }
    }

    static <T> T or(T value, T dflt) {
        return value != null ? value : dflt;
    }

    static void require(Object value, String key) {
        if (value == null) {
            throw new IllegalArgumentException("missing required key '" + key + "'");
        }
    }
}
