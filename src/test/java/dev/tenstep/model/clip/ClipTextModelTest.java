package dev.tenstep.model.clip;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ClipTextModelTest {

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21})
    void lastHiddenStateMatchesReference(String fixture) throws IOException {
        try (NDManager weights = NDManager.newBaseManager();
             NDManager work = NDManager.newBaseManager()) {
            ClipTextModel model = ClipTextModel.load(Fixtures.dir(fixture).resolve("text_encoder"), weights);
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(fixture, "text_encoder.safetensors"), work);
            NDArray ids = ref.get("input_ids");
            assertArrayEquals(new long[] {3, 77}, ids.getShape().getShape());
            long before = weights.getManagedArrays().size();
            long workBefore = work.getManagedArrays().size();
            NDArray out = model.forward(ids);
            assertEquals(workBefore + 1, work.getManagedArrays().size(), "only the result is added to the input's manager");
            assertSame(work, out.getManager(), "result belongs to the input's manager");
            assertSame(work, ids.getManager(), "input returned to its manager");
            assertEquals(before, weights.getManagedArrays().size(), "no intermediates left in the weights manager");
            assertEquals(DataType.FLOAT32, out.getDataType());
            Allclose.assertClose(fixture + " text_encoder.last_hidden_state", ref.get("last_hidden_state"), out,
                    Fixtures.tolerance(fixture, "text_encoder", "last_hidden_state"));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21})
    void debugIntermediatesMatchReference(String fixture) throws IOException {
        try (NDManager weights = NDManager.newBaseManager();
             NDManager work = NDManager.newBaseManager()) {
            ClipTextModel model = ClipTextModel.load(Fixtures.dir(fixture).resolve("text_encoder"), weights);
            NDArray ids = SafeTensors.read(Fixtures.reference(fixture, "text_encoder.safetensors"), work)
                    .get("input_ids").get(new NDIndex("1:2, :"));
            // the debug case's prompt is the pipeline prompt; check the tokenizer gives these ids too
            try (ClipTokenizer tok = ClipTokenizer.load(Fixtures.dir(fixture).resolve("tokenizer"))) {
                assertArrayEquals(tok.encode("a photo of an astronaut riding a horse on mars").ids(), ids.toLongArray());
            }
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(fixture, "debug_intermediates.safetensors"), work);
            Map<String, NDArray> got = new LinkedHashMap<>();
            NDArray out = model.forward(ids, got);
            int layers = model.config().numHiddenLayers();
            assertEquals(layers + 1, got.size());
            int compared = 0;
            for (Map.Entry<String, NDArray> e : got.entrySet()) {
                assertSame(work, e.getValue().getManager());
                NDArray expected = ref.get(e.getKey());
                if (expected == null) {
                    throw new AssertionError("no reference for " + e.getKey());
                }
                Allclose.assertClose(fixture + " " + e.getKey(), expected, e.getValue(),
                        Fixtures.tolerance(fixture, "debug_intermediates", e.getKey()));
                compared++;
            }
            assertEquals(layers + 1, compared);
            // every text_encoder.* reference tensor was produced
            long refCount = ref.keySet().stream().filter(k -> k.startsWith("text_encoder.")).count();
            assertEquals(refCount, compared);
            assertArrayEquals(new long[] {1, 77, 32}, out.getShape().getShape());
        }
    }

    @Test
    void strictLoadingRejectsUnusedWeights(@TempDir Path tmp) throws IOException {
        Path src = Fixtures.dir(Fixtures.SD15).resolve("text_encoder");
        String cfg = Files.readString(src.resolve("config.json")).replace("\"num_hidden_layers\": 3", "\"num_hidden_layers\": 2");
        assertTrue(cfg.contains("\"num_hidden_layers\": 2"));
        Files.writeString(tmp.resolve("config.json"), cfg);
        Files.createSymbolicLink(tmp.resolve("model.safetensors"), src.resolve("model.safetensors").toAbsolutePath());
        try (NDManager m = NDManager.newBaseManager()) {
            ModelLoadException e = assertThrows(ModelLoadException.class, () -> ClipTextModel.load(tmp, m));
            assertTrue(e.getMessage().contains("text_model.encoder.layers.2."), e.getMessage());
        }
    }

    @Test
    void strictLoadingRejectsMissingWeightFile(@TempDir Path tmp) throws IOException {
        Files.copy(Fixtures.dir(Fixtures.SD15).resolve("text_encoder/config.json"), tmp.resolve("config.json"));
        try (NDManager m = NDManager.newBaseManager()) {
            ModelLoadException e = assertThrows(ModelLoadException.class, () -> ClipTextModel.load(tmp, m));
            assertTrue(e.getMessage().contains("no weight file"), e.getMessage());
        }
    }
}
