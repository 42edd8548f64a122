package dev.tenstep.cli;

import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The default model of {@code generate} and {@code batch}: folders and single files, as {@code serve} lists them. */
class ModelLocatorTest {
    @TempDir
    Path models;

    @Test
    void defaultModelConsidersSingleFilesAndFidelityFoldersOnly() throws Exception {
        assertEquals(Optional.empty(), ModelLocator.defaultModel(models));
        assertEquals(Optional.empty(), ModelLocator.defaultModel(models.resolve("missing")));
        Path folder = Files.createSymbolicLink(models.resolve("b-folder"), Fixtures.dir(Fixtures.SD15));
        Path file = Files.createSymbolicLink(models.resolve("a-model.safetensors"),
                Fixtures.root().resolve("single-file").resolve("tiny-sd15.safetensors"));
        // a VAE file is not a model
        Files.createSymbolicLink(models.resolve("0.vae.safetensors"), Fixtures.root().resolve("single-file").resolve("tiny-sd15.safetensors"));
        assertEquals(Optional.of(file.toAbsolutePath().normalize()), ModelLocator.defaultModel(models));
        assertEquals(Optional.of(folder.toAbsolutePath().normalize()), ModelLocator.defaultFolder(models));
    }
}
