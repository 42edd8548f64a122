package dev.tenstep.pipeline;

import dev.tenstep.io.ModelHash;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The model catalog of a models folder holding links to the tiny fixtures: a diffusers folder, a
 * single file (hash cached beside it or not), a VAE file, a demo folder and things that are no models.
 */
class ModelCatalogTest {
    /** SHA-256 of src/test/shared/fixtures/single-file/tiny-sd15.safetensors (sha256sum). */
    static final String SD15_FILE_SHA256 = "3e4a28f7743da6c98e6662458a393dac09c89643224615ddebe9326777a1a3df";

    @TempDir
    Path tmp;

    private Path models() throws Exception {
        Path models = Files.createDirectories(tmp.resolve("models"));
        Files.createSymbolicLink(models.resolve("tiny-sd15"), Fixtures.dir(Fixtures.SD15));
        Files.createSymbolicLink(models.resolve("tiny-sd15.safetensors"), Fixtures.root().resolve("single-file/tiny-sd15.safetensors"));
        // a VAE, a hidden file, a folder that is no pipeline, a text file: not listed
        Files.createSymbolicLink(models.resolve("kl-f8.vae.safetensors"), Fixtures.root().resolve("single-file/tiny-sd15.safetensors"));
        Files.writeString(models.resolve(".partial.safetensors"), "x");
        Files.createDirectories(models.resolve("loras"));
        Files.writeString(models.resolve("README.md"), "models");
        // the demo pipeline (marker file) sorts first but is not the default
        Path demo = Files.createDirectories(models.resolve("a-demo"));
        Files.writeString(demo.resolve("model_index.json"), "{}");
        Files.writeString(demo.resolve(DemoModelWriter.MARKER), "random");
        return models;
    }

    @Test
    void listsFoldersAndSingleFilesWithTheCachedHashOnly() throws Exception {
        Path models = models();
        ModelCatalog catalog = new ModelCatalog(models);
        List<ModelCatalog.Entry> entries = catalog.entries();
        assertEquals(List.of("a-demo", "tiny-sd15", "tiny-sd15.safetensors"), entries.stream().map(ModelCatalog.Entry::title).toList());

        ModelCatalog.Entry demo = entries.get(0);
        assertTrue(demo.demo());
        ModelCatalog.Entry folder = entries.get(1);
        assertEquals(ModelCatalog.Kind.FOLDER, folder.kind());
        assertEquals("tiny-sd15", folder.modelName());
        assertNull(folder.hash());
        assertNull(folder.sha256());
        assertEquals(models.resolve("tiny-sd15").toAbsolutePath().toString(), folder.filename());
        assertEquals(folder, catalog.defaultEntry().orElseThrow(), "the first entry that is not the demo");

        // no cache beside the file: no hash (listing never reads 4 GB files)
        ModelCatalog.Entry file = entries.get(2);
        assertEquals(ModelCatalog.Kind.FILE, file.kind());
        assertEquals("tiny-sd15", file.modelName());
        assertNull(file.hash());
        assertNull(file.sha256());
        assertEquals(models.resolve("tiny-sd15.safetensors").toAbsolutePath().toString(), file.filename());
        assertFalse(Files.exists(models.resolve("tiny-sd15.safetensors" + ModelHash.CACHE_SUFFIX)));

        // a load hashes the file and caches the hash beside it; a rescan lists it as A1111 titles it
        assertEquals(SD15_FILE_SHA256, ModelHash.sha256(models.resolve("tiny-sd15.safetensors"), null));
        ModelCatalog.Entry hashed = catalog.refresh().get(2);
        assertEquals("tiny-sd15.safetensors [3e4a28f774]", hashed.title());
        assertEquals("3e4a28f774", hashed.hash());
        assertEquals(SD15_FILE_SHA256, hashed.sha256());

        // a stale cache (another size) is not believed (a file this process has not hashed)
        Path other = Files.createSymbolicLink(models.resolve("other.safetensors"),
                Fixtures.root().resolve("single-file/tiny-sd15.safetensors"));
        Files.writeString(models.resolve("other.safetensors" + ModelHash.CACHE_SUFFIX), SD15_FILE_SHA256 + " 12 0\n");
        assertNull(ModelCatalog.entryOf(other).hash());
    }

    /**
     * The model a server starts with was hashed by its load; in a read-only folder no cache is written beside it, and
     * the listing (and refresh-checkpoints) still gave sha256 null, and an entry listed before the load kept sha256
     * null with its short hash. The hash the process computed is known to both.
     */
    @Test
    void aFileHashedByTheLoadListsItsSha256EvenInAReadOnlyFolder() throws Exception {
        Path ro = Files.createDirectories(tmp.resolve("ro"));
        Path file = Fixtures.copyOf("single-file/tiny-sd15.safetensors", ro);
        ModelCatalog catalog = new ModelCatalog(ro);
        ModelCatalog.Entry before = catalog.entries().get(0);
        assertNull(before.sha256());
        ro.toFile().setWritable(false, false);
        try {
            String sha = ModelHash.sha256(file, null);
            assertFalse(Files.exists(ro.resolve(file.getFileName() + ModelHash.CACHE_SUFFIX)), "read-only: no cache");
            ModelCatalog.Entry after = catalog.refresh().get(0);
            assertEquals(sha, after.sha256());
            assertEquals(ModelHash.shortHash(sha), after.hash());
            // the entry listed before the load, given the load's short hash, has the full hash too
            ModelCatalog.Entry given = before.withHash(ModelHash.shortHash(sha));
            assertEquals(sha, given.sha256());
            assertEquals(file.getFileName() + " [" + ModelHash.shortHash(sha) + "]", given.title());
            assertEquals(given, after.withHash(ModelHash.shortHash(sha)));
        } finally {
            ro.toFile().setWritable(true, false);
        }
    }

    @Test
    void a1111NamesFindTheirEntry() throws Exception {
        Path models = models();
        ModelHash.sha256(models.resolve("tiny-sd15.safetensors"), null);
        ModelCatalog catalog = new ModelCatalog(models);
        ModelCatalog.Entry file = catalog.entries().get(2);
        ModelCatalog.Entry folder = catalog.entries().get(1);
        for (String sent : List.of("tiny-sd15.safetensors [3e4a28f774]", "tiny-sd15.safetensors", " tiny-sd15.safetensors [3E4A28F774] ",
                file.filename(), "tiny-sd15.safetensors [" + SD15_FILE_SHA256 + "]",
                // A1111's aliases: the short hash or the SHA-256 alone
                "3e4a28f774", "3E4A28F774", SD15_FILE_SHA256)) {
            assertEquals(file, catalog.find(sent).orElseThrow(), sent);
        }
        // the bare name is the folder's (listed first) as well as the file's model_name
        assertEquals(folder, catalog.find("tiny-sd15").orElseThrow());
        assertTrue(file.matches("tiny-sd15"));
        assertFalse(file.matches("tiny-sd15.safetensors [0123456789]"), "a hash that disagrees");
        assertTrue(catalog.find("tiny-sd21").isEmpty());
        assertTrue(catalog.find("kl-f8.vae.safetensors").isEmpty(), "VAEs are not checkpoints");
        assertTrue(catalog.find(" ").isEmpty());
        assertTrue(catalog.find("0123456789").isEmpty(), "an unknown hash");
    }

    @Test
    void pinnedModelsOutsideTheFolderAreListedAfterIt() throws Exception {
        Path models = models();
        ModelCatalog catalog = new ModelCatalog(models);
        ModelCatalog.Entry elsewhere = ModelCatalog.entryOf(Fixtures.dir(Fixtures.SD21));
        catalog.pin(elsewhere);
        catalog.pin(ModelCatalog.ideal("ideal:shapes"));
        // pinning a listed model does not list it twice
        catalog.pin(ModelCatalog.entryOf(models.resolve("tiny-sd15")));
        assertEquals(List.of("a-demo", "tiny-sd15", "tiny-sd15.safetensors", "tiny-sd21", "ideal:shapes"),
                catalog.refresh().stream().map(ModelCatalog.Entry::title).toList());
        assertEquals(ModelCatalog.Kind.IDEAL, catalog.find("ideal:shapes").orElseThrow().kind());
        assertEquals(List.of(), ModelCatalog.scan(tmp.resolve("missing")));
    }

    /**
     * SDXL folders and single files dropped into the models folder are listed with their family, read from the model
     * index / text encoder config or the safetensors header alone; the demo and a file the listing cannot read (a
     * .ckpt, whose names are in a pickle) get none.
     */
    @Test
    void entriesCarryTheFamilyLabel() throws Exception {
        Path models = models();
        Files.createSymbolicLink(models.resolve("tiny-sdxl"), Fixtures.dir(Fixtures.SDXL));
        Files.createSymbolicLink(models.resolve("tiny-sd21"), Fixtures.dir(Fixtures.SD21));
        Files.createSymbolicLink(models.resolve("tiny-sdxl.safetensors"), Fixtures.root().resolve("single-file/tiny-sdxl.safetensors"));
        Files.createSymbolicLink(models.resolve("tiny-sdxl-fp16.safetensors"),
                Fixtures.root().resolve("single-file/tiny-sdxl-fp16.safetensors"));
        Files.createSymbolicLink(models.resolve("tiny-sd21.safetensors"), Fixtures.root().resolve("single-file/tiny-sd21.safetensors"));
        Files.writeString(models.resolve("old.ckpt"), "not read by a listing");
        java.util.Map<String, String> family = new java.util.LinkedHashMap<>();
        new ModelCatalog(models).entries().forEach(e -> family.put(e.title(), e.family()));
        java.util.Map<String, String> expected = new java.util.LinkedHashMap<>();
        expected.put("a-demo", null);
        expected.put("old.ckpt", null);
        expected.put("tiny-sd15", "SD 1.x");
        expected.put("tiny-sd15.safetensors", "SD 1.x");
        expected.put("tiny-sd21", "SD 2.x");
        expected.put("tiny-sd21.safetensors", "SD 2.x");
        expected.put("tiny-sdxl", "SDXL");
        expected.put("tiny-sdxl-fp16.safetensors", "SDXL");
        expected.put("tiny-sdxl.safetensors", "SDXL");
        assertEquals(expected, family);
    }
}
