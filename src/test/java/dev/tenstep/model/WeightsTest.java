package dev.tenstep.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WeightsTest {
    static NDManager manager;

    @TempDir
    Path tmp;

    /** Legacy VAE attention names -> current ones (the mapping the fixtures README specifies). */
    static final UnaryOperator<String> LEGACY_VAE = n -> n
            .replace(".attentions.0.query.", ".attentions.0.to_q.")
            .replace(".attentions.0.key.", ".attentions.0.to_k.")
            .replace(".attentions.0.value.", ".attentions.0.to_v.")
            .replace(".attentions.0.proj_attn.", ".attentions.0.to_out.0.");

    @BeforeAll
    static void setUp() {
        manager = NDManager.newBaseManager("PyTorch");
    }

    @AfterAll
    static void tearDown() {
        manager.close();
    }

    static void touch(Path dir, String... names) throws IOException {
        Files.createDirectories(dir);
        for (String n : names) {
            Files.write(dir.resolve(n), new byte[] {1});
        }
    }

    Path smallFile(String name) throws IOException {
        Path f = tmp.resolve(name);
        Map<String, NDArray> m = new LinkedHashMap<>();
        m.put("a.weight", manager.create(new float[] {1, 2, 3, 4, 5, 6}, new Shape(2, 3)));
        m.put("a.bias", manager.create(new float[] {7, 8}));
        m.put("b.weight", manager.create(new float[] {9}, new Shape(1, 1)));
        m.put("text_model.embeddings.position_ids", manager.create(new long[] {0, 1, 2}, new Shape(1, 3)));
        SafeTensors.write(f, m, Map.of("format", "pt"));
        return f;
    }

    // ---------------------------------------------------------------- findWeightFile

    @Test
    void findWeightFilePreferenceOrder() throws IOException {
        Path dir = tmp.resolve("unet");
        touch(dir, "diffusion_pytorch_model.safetensors", "model.safetensors", "diffusion_pytorch_model.fp16.safetensors",
                "model.fp16.safetensors", "diffusion_pytorch_model.bin", "model.ckpt");
        List<String> order = List.of("diffusion_pytorch_model.safetensors", "model.safetensors",
                "diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors");
        for (String expected : order) {
            assertEquals(dir.resolve(expected), Weights.findWeightFile(dir));
            Files.delete(dir.resolve(expected));
        }
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> Weights.findWeightFile(dir));
        assertTrue(e.getMessage().contains("pickled"), e.getMessage());
    }

    @Test
    void plainSafetensorsWinsOverFp16Variant() throws IOException {
        Path dir = tmp.resolve("vae");
        touch(dir, "diffusion_pytorch_model.fp16.safetensors", "model.safetensors");
        assertEquals(dir.resolve("model.safetensors"), Weights.findWeightFile(dir));
        Path te = tmp.resolve("text_encoder");
        touch(te, "model.fp16.safetensors", "pytorch_model.bin");
        assertEquals(te.resolve("model.fp16.safetensors"), Weights.findWeightFile(te));
    }

    @Test
    void onlyPickledWeightsIsAClearError() throws IOException {
        Path dir = tmp.resolve("unet");
        touch(dir, "diffusion_pytorch_model.bin", "v1-5.ckpt", "config.json");
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> Weights.findWeightFile(dir));
        assertEquals(dir + " holds only pickled PyTorch weights [diffusion_pytorch_model.bin, v1-5.ckpt]; this application "
                + "reads .safetensors only (pickle files can run arbitrary code). Download the .safetensors variant of "
                + "the model or convert it with the safetensors library.", e.getMessage());
        ModelLoadException viaOpen = assertThrows(ModelLoadException.class, () -> Weights.open(dir, manager, UnaryOperator.identity()));
        assertTrue(viaOpen.getMessage().contains("pickled"));
    }

    @Test
    void emptyAndMissingFolders() throws IOException {
        Path empty = tmp.resolve("empty");
        touch(empty, "config.json");
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> Weights.findWeightFile(empty));
        assertEquals("no weight file in " + empty + " (expected diffusion_pytorch_model.safetensors or model.safetensors)",
                e.getMessage());
        Path missing = tmp.resolve("nowhere");
        ModelLoadException m = assertThrows(ModelLoadException.class, () -> Weights.findWeightFile(missing));
        assertEquals("missing folder " + missing, m.getMessage());
        assertThrows(ModelLoadException.class, () -> Weights.open(missing, manager, UnaryOperator.identity()));
    }

    @Test
    void findsTheFixtureFiles() {
        assertEquals("diffusion_pytorch_model.safetensors",
                Weights.findWeightFile(Fixtures.dir(Fixtures.SD15).resolve("unet")).getFileName().toString());
        assertEquals("model.safetensors",
                Weights.findWeightFile(Fixtures.dir(Fixtures.SD21).resolve("text_encoder")).getFileName().toString());
    }

    @Test
    void openOnACorruptFileNamesIt() throws IOException {
        Path dir = tmp.resolve("broken");
        Files.createDirectories(dir);
        Path f = dir.resolve("model.safetensors");
        Files.write(f, new byte[] {1, 2, 3});
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> Weights.open(dir, manager, UnaryOperator.identity()));
        assertEquals(f + ": truncated: 3 bytes, shorter than the 8-byte header length", e.getMessage());
        assertTrue(e.getCause() instanceof dev.tenstep.io.SafeTensorsException);
    }

    // ---------------------------------------------------------------- take / finish

    @Test
    void takeReturnsTheTensor() throws IOException {
        Path f = smallFile("w.safetensors");
        try (NDManager sub = manager.newSubManager(); Weights w = Weights.of(SafeTensors.open(f), sub)) {
            NDArray a = w.take("a.weight", 2, 3);
            assertEquals(new Shape(2, 3), a.getShape());
            assertEquals("a.weight", a.getName());
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, a.toFloatArray());
            assertArrayEquals(new float[] {7, 8}, w.take("a.bias", 2).toFloatArray());
            assertEquals(f, w.path());
            assertEquals(4, w.tensors().size());
        }
    }

    @Test
    void takeMissingTensor() throws IOException {
        Path f = smallFile("w2.safetensors");
        try (Weights w = Weights.of(SafeTensors.open(f), manager)) {
            ModelLoadException e = assertThrows(ModelLoadException.class, () -> w.take("c.weight", 4, 2));
            assertEquals(f + ": missing weight 'c.weight' (expected shape [4, 2])", e.getMessage());
        }
    }

    @Test
    void takeWrongShape() throws IOException {
        Path f = smallFile("w3.safetensors");
        try (Weights w = Weights.of(SafeTensors.open(f), manager)) {
            ModelLoadException e = assertThrows(ModelLoadException.class, () -> w.take("a.weight", 3, 2));
            assertEquals(f + ": weight 'a.weight' has shape [2, 3], expected [3, 2]", e.getMessage());
            ModelLoadException r = assertThrows(ModelLoadException.class, () -> w.take("a.bias", 2, 1));
            assertEquals(f + ": weight 'a.bias' has shape [2], expected [2, 1]", r.getMessage());
            // a failed take does not count as taken
            ModelLoadException fin = assertThrows(ModelLoadException.class, w::finish);
            assertTrue(fin.getMessage().contains("a.weight"), fin.getMessage());
        }
    }

    @Test
    void finishListsUnexpectedTensors() throws IOException {
        Path f = smallFile("w4.safetensors");
        try (Weights w = Weights.of(SafeTensors.open(f), manager)) {
            w.take("a.weight", 2, 3);
            ModelLoadException e = assertThrows(ModelLoadException.class, w::finish);
            assertEquals(f + ": 3 unexpected weight(s) not used by the configured architecture (config.json does not "
                    + "match the weights?): [a.bias, b.weight, text_model.embeddings.position_ids]", e.getMessage());
            w.ignore("text_model.embeddings.position_ids");
            w.take("a.bias", 2);
            ModelLoadException e2 = assertThrows(ModelLoadException.class, w::finish);
            assertEquals(f + ": 1 unexpected weight(s) not used by the configured architecture (config.json does not "
                    + "match the weights?): [b.weight]", e2.getMessage());
            w.take("b.weight", 1, 1);
            assertDoesNotThrow(w::finish);
        }
    }

    @Test
    void finishPreviewsLongLists() throws IOException {
        Path f = tmp.resolve("many.safetensors");
        Map<String, NDArray> m = new LinkedHashMap<>();
        for (int i = 0; i < 13; i++) {
            m.put(String.format("t%02d", i), manager.create(new float[] {i}));
        }
        SafeTensors.write(f, m, null);
        try (Weights w = Weights.of(SafeTensors.open(f), manager)) {
            ModelLoadException e = assertThrows(ModelLoadException.class, w::finish);
            assertTrue(e.getMessage().endsWith(": 13 unexpected weight(s) not used by the configured architecture "
                    + "(config.json does not match the weights?): [t00, t01, t02, t03, t04, t05, t06, t07, t08, t09] and 3 more"),
                    e.getMessage());
        }
    }

    @Test
    void fp16WeightsAreTakenAsFloat32() throws IOException {
        Path f = tmp.resolve("half.safetensors");
        try (NDManager sub = manager.newSubManager()) {
            SafeTensors.write(f, Map.of("h", sub.create(new float[] {0.5f, -3f}).toType(DataType.FLOAT16, false)), null);
        }
        try (Weights w = Weights.of(SafeTensors.open(f), manager)) {
            NDArray a = w.take("h", 2);
            assertEquals(DataType.FLOAT32, a.getDataType());
            assertArrayEquals(new float[] {0.5f, -3f}, a.toFloatArray());
        }
    }

    // ---------------------------------------------------------------- aliases

    @Test
    void legacyNameIsFoundUnderItsCurrentName() throws IOException {
        Path dir = Fixtures.dir(Fixtures.SD15).resolve("vae");
        try (NDManager sub = manager.newSubManager(); Weights w = Weights.open(dir, sub, LEGACY_VAE);
             SafeTensors st = SafeTensors.open(dir.resolve("diffusion_pytorch_model.safetensors"))) {
            NDArray q = w.take("decoder.mid_block.attentions.0.to_q.weight", 32, 32);
            assertEquals("decoder.mid_block.attentions.0.to_q.weight", q.getName());
            assertArrayEquals(st.load(sub, "decoder.mid_block.attentions.0.query.weight").toFloatArray(), q.toFloatArray());
            NDArray o = w.take("decoder.mid_block.attentions.0.to_out.0.bias", 32);
            assertArrayEquals(st.load(sub, "decoder.mid_block.attentions.0.proj_attn.bias").toFloatArray(), o.toFloatArray());

            // the legacy name itself is not what modules ask for
            ModelLoadException e = assertThrows(ModelLoadException.class,
                    () -> w.take("decoder.mid_block.attentions.0.query.weight", 32, 32));
            assertTrue(e.getMessage().contains("missing weight 'decoder.mid_block.attentions.0.query.weight'"));

            ModelLoadException s = assertThrows(ModelLoadException.class,
                    () -> w.take("decoder.mid_block.attentions.0.to_k.weight", 32, 1));
            assertEquals(w.path() + ": weight 'decoder.mid_block.attentions.0.to_k.weight' (stored as "
                    + "'decoder.mid_block.attentions.0.key.weight') has shape [32, 32], expected [32, 1]", s.getMessage());

            // take everything by its current name: finish() accepts the file
            for (var info : w.tensors().values()) {
                w.take(LEGACY_VAE.apply(info.name()), info.shape());
            }
            assertDoesNotThrow(w::finish);
        }
    }

    @Test
    void currentNamesPassThroughTheAliasUnchanged() throws IOException {
        Path dir = Fixtures.dir(Fixtures.SD21).resolve("vae");
        try (NDManager sub = manager.newSubManager(); Weights w = Weights.open(dir, sub, LEGACY_VAE)) {
            assertEquals(new Shape(32, 32), w.take("decoder.mid_block.attentions.0.to_v.weight", 32, 32).getShape());
            assertEquals(new Shape(16, 3, 3, 3), w.take("encoder.conv_in.weight", 16, 3, 3, 3).getShape());
            for (var info : w.tensors().values()) {
                w.take(info.name(), info.shape());
            }
            assertDoesNotThrow(w::finish);
        }
    }

    @Test
    void textEncoderFinishesOnceThePositionIdsBufferIsIgnored() {
        Path dir = Fixtures.dir(Fixtures.SD15).resolve("text_encoder");
        try (NDManager sub = manager.newSubManager(); Weights w = Weights.open(dir, sub, UnaryOperator.identity())) {
            assertEquals(new Shape(49408, 32), w.take("text_model.embeddings.token_embedding.weight", 49408, 32).getShape());
            for (var info : w.tensors().values()) {
                if (info.dtype() == dev.tenstep.io.DType.F32) {
                    w.take(info.name(), info.shape());
                }
            }
            ModelLoadException e = assertThrows(ModelLoadException.class, w::finish);
            assertTrue(e.getMessage().endsWith("[text_model.embeddings.position_ids]"), e.getMessage());
            w.ignore("text_model.embeddings.position_ids");
            assertDoesNotThrow(w::finish);
        }
    }

    @Test
    void ignoreAcceptsTheAliasedName() throws IOException {
        Path dir = Fixtures.dir(Fixtures.SD15).resolve("vae");
        try (NDManager sub = manager.newSubManager(); Weights w = Weights.open(dir, sub, LEGACY_VAE)) {
            for (var info : w.tensors().values()) {
                if (!info.name().startsWith("decoder.mid_block.attentions.0.query.")) {
                    w.take(LEGACY_VAE.apply(info.name()), info.shape());
                }
            }
            ModelLoadException e = assertThrows(ModelLoadException.class, w::finish);
            assertTrue(e.getMessage().contains(": 2 unexpected weight(s)"), e.getMessage());
            assertTrue(e.getMessage().endsWith("[decoder.mid_block.attentions.0.query.bias, decoder.mid_block.attentions.0.query.weight]"),
                    e.getMessage());
            w.ignore("decoder.mid_block.attentions.0.to_q.weight");
            w.ignore("decoder.mid_block.attentions.0.query.bias");
            assertDoesNotThrow(w::finish);
        }
    }
}
