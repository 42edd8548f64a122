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
            T value = JSON.readValue(file.toFile(), type);
            if (value == null) {
                throw new IllegalArgumentException("the file holds JSON null, expected an object");
            }
            if (value instanceof ModelIndex index) {
                index.validate();
            }
            return value;
        } catch (com.fasterxml.jackson.databind.exc.ValueInstantiationException e) {
            // thrown by a record's validating factory: its message names the key
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new ModelLoadException(file + ": " + cause.getMessage(), e);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            String msg = e.getOriginalMessage();
            if (e instanceof com.fasterxml.jackson.databind.JsonMappingException m && !m.getPath().isEmpty()) {
                msg = "key '" + path(m) + "': " + msg;
            }
            throw new ModelLoadException(file + ": " + msg, e);
        } catch (IOException e) {
            throw new ModelLoadException(file + ": cannot read: " + e.getMessage(), e);
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            throw new ModelLoadException(file + ": " + e.getMessage(), e);
        }
    }

    private static String path(com.fasterxml.jackson.databind.JsonMappingException e) {
        StringBuilder sb = new StringBuilder();
        for (com.fasterxml.jackson.databind.JsonMappingException.Reference r : e.getPath()) {
            if (r.getFieldName() != null) {
                if (sb.length() > 0) {
                    sb.append('.');
                }
                sb.append(r.getFieldName());
            } else if (r.getIndex() >= 0) {
                sb.append('[').append(r.getIndex()).append(']');
            }
        }
        return sb.toString();
    }

    /** A JSON value given as explicit {@code null} counts as absent. */
    static com.fasterxml.jackson.databind.JsonNode present(com.fasterxml.jackson.databind.JsonNode n) {
        return n == null || n.isNull() || n.isMissingNode() ? null : n;
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
