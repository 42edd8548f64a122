package dev.tenstep.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/** Finds pipelines under the {@code models/} folder. */
public final class ModelLocator {
    /** The bundled demo pipeline's folder name under {@code models/}. */
    public static final String DEMO = "demo";

    private ModelLocator() {
    }

    /** Folders directly under {@code modelsDir} that hold a {@code model_index.json}, sorted by name. */
    public static List<Path> pipelines(Path modelsDir) {
        if (!Files.isDirectory(modelsDir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(modelsDir)) {
            return s.filter(p -> Files.isRegularFile(p.resolve("model_index.json"))).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The first real (non-demo) pipeline under {@code modelsDir}, else the demo pipeline if present. */
    public static Optional<Path> defaultModel(Path modelsDir) {
        List<Path> all = pipelines(modelsDir);
        return all.stream().filter(p -> !p.getFileName().toString().equals(DEMO)).findFirst()
                .or(() -> all.stream().findFirst());
    }
}
