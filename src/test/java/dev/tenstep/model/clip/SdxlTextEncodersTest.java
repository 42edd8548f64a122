package dev.tenstep.model.clip;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * tiny-sdxl cases 1-4 and the text-encoder debug intermediates (case 12): both tokenizers exactly, the penultimate
 * hidden states of both encoders, encoder 2's pooling position and projected {@code text_embeds}, and their
 * concatenation into SDXL's context (encoder 1's features first) and pooled embedding.
 */
class SdxlTextEncodersTest {
    static final String FX = Fixtures.SDXL;

    @TempDir
    Path tmp;

    @Test
    void bothTokenizersExact() throws IOException {
        JsonNode prompts = Fixtures.caseById(FX, "tokenizer").get("inputs").get("prompts");
        assertEquals(16, prompts.size());
        try (NDManager m = NDManager.newBaseManager();
             ClipTokenizer tok1 = ClipTokenizer.load(Fixtures.dir(FX).resolve("tokenizer"));
             ClipTokenizer tok2 = ClipTokenizer.load(Fixtures.dir(FX).resolve("tokenizer_2"))) {
            assertEquals(49407, tok1.padId());
            assertEquals(0, tok2.padId());
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(FX, "tokenizer.safetensors"), m);
            for (JsonNode p : prompts) {
                String prompt = p.get("prompt").asText();
                ClipTokenizer[] toks = {tok1, tok2};
                for (int i = 0; i < 2; i++) {
                    String tensor = p.get("tensors").get(i).asText();
                    ClipTokenizer.Encoding e = toks[i].encode(prompt);
                    Allclose.assertExact(tensor + " '" + prompt + "'", ref.get(tensor),
                            m.create(e.ids(), new Shape(1, ClipTokenizer.MAX_LENGTH)));
                    assertEquals(p.get("bpe_token_count").asInt(), e.tokenCount(), tensor);
                }
            }
        }
    }

    @Test
    void textEncoderPenultimateAndLast() throws IOException {
        try (NDManager weights = NDManager.newBaseManager(); NDManager m = NDManager.newBaseManager()) {
            ClipTextModel te = ClipTextModel.load(Fixtures.dir(FX).resolve("text_encoder"), weights);
            assertNull(te.textProjection);
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(FX, "text_encoder.safetensors"), m);
            NDArray ids = ref.get("input_ids");
            ClipTextModel.SdxlOutput out = te.encodeSdxl(ids, null);
            assertSame(m, out.penultimate().getManager());
            assertNull(out.textEmbeds(), "a CLIPTextModel's pooled output is not used");
            Allclose.assertClose("text_encoder.hidden_states_penultimate", ref.get("hidden_states_penultimate"),
                    out.penultimate(), Fixtures.tolerance(FX, "text_encoder", "hidden_states_penultimate"));
            Allclose.assertClose("text_encoder.last_hidden_state", ref.get("last_hidden_state"), te.forward(ids),
                    Fixtures.tolerance(FX, "text_encoder", "last_hidden_state"));
        }
    }

    @Test
    void textEncoder2PoolingAndProjection() throws IOException {
        try (NDManager weights = NDManager.newBaseManager(); NDManager m = NDManager.newBaseManager()) {
            ClipTextModel te2 = ClipTextModel.load(Fixtures.dir(FX).resolve("text_encoder_2"), weights);
            assertNotNull(te2.textProjection);
            assertEquals(te2.config().projection().projectionDim(), te2.textProjection.weight.getShape().get(0));
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(FX, "text_encoder_2.safetensors"), m);
            NDArray ids = ref.get("input_ids");
            assertArrayEquals(ref.get("eos_index").toLongArray(), te2.poolingPositions(ids));
            assertArrayEquals(new long[] {1, 11, 76}, te2.poolingPositions(ids));
            ClipTextModel.SdxlOutput out = te2.encodeSdxl(ids, null);
            Allclose.assertClose("text_encoder_2.hidden_states_penultimate", ref.get("hidden_states_penultimate"),
                    out.penultimate(), Fixtures.tolerance(FX, "text_encoder_2", "hidden_states_penultimate"));
            Allclose.assertClose("text_encoder_2.text_embeds", ref.get("text_embeds"), out.textEmbeds(),
                    Fixtures.tolerance(FX, "text_encoder_2", "text_embeds"));
            Allclose.assertClose("text_encoder_2.last_hidden_state", ref.get("last_hidden_state"), te2.forward(ids),
                    Fixtures.tolerance(FX, "text_encoder_2", "last_hidden_state"));
        }
    }

    /** Pad 49407 (tokenizer/ ids) makes several maxima: the first is the pooling position (legacy eos_token_id 2). */
    @Test
    void poolingTakesTheFirstMaximum() throws IOException {
        try (NDManager weights = NDManager.newBaseManager(); NDManager m = NDManager.newBaseManager()) {
            ClipTextModel te2 = ClipTextModel.load(Fixtures.dir(FX).resolve("text_encoder_2"), weights);
            NDArray ids1 = SafeTensors.read(Fixtures.reference(FX, "text_encoder.safetensors"), m).get("input_ids");
            assertArrayEquals(new long[] {1, 11, 76}, te2.poolingPositions(ids1));
        }
    }

    @Test
    void encodePromptConcatenatesEncoderOneFirst() throws IOException {
        try (NDManager weights = NDManager.newBaseManager(); NDManager m = NDManager.newBaseManager()) {
            ClipTextModel te1 = ClipTextModel.load(Fixtures.dir(FX).resolve("text_encoder"), weights);
            ClipTextModel te2 = ClipTextModel.load(Fixtures.dir(FX).resolve("text_encoder_2"), weights);
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(FX, "encode_prompt.safetensors"), m);
            ClipTextModel.SdxlOutput a = te1.encodeSdxl(ref.get("input_ids"), null);
            ClipTextModel.SdxlOutput b = te2.encodeSdxl(ref.get("input_ids_2"), null);
            NDArray context = a.penultimate().concat(b.penultimate(), 2);
            assertArrayEquals(new long[] {3, 77, 56}, context.getShape().getShape());
            Allclose.assertClose("encode_prompt.prompt_embeds", ref.get("prompt_embeds"), context,
                    Fixtures.tolerance(FX, "encode_prompt", "prompt_embeds"));
            Allclose.assertClose("encode_prompt.pooled_prompt_embeds", ref.get("pooled_prompt_embeds"), b.textEmbeds(),
                    Fixtures.tolerance(FX, "encode_prompt", "pooled_prompt_embeds"));
        }
    }

    @Test
    void debugIntermediatesOfBothEncoders() throws IOException {
        try (NDManager weights = NDManager.newBaseManager(); NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(FX, "debug_intermediates.safetensors"), m);
            Map<String, NDArray> inputs = SafeTensors.read(Fixtures.reference(FX, "encode_prompt.safetensors"), m);
            int compared = 0;
            for (String enc : new String[] {"text_encoder", "text_encoder_2"}) {
                ClipTextModel te = ClipTextModel.load(Fixtures.dir(FX).resolve(enc), weights);
                NDArray ids = inputs.get(enc.equals("text_encoder") ? "input_ids" : "input_ids_2").get(new NDIndex("1:2, :"));
                Map<String, NDArray> got = new LinkedHashMap<>();
                te.encodeSdxl(ids, got);
                for (Map.Entry<String, NDArray> e : got.entrySet()) {
                    // the model names its records text_encoder.*; the reference prefixes them with the folder
                    String name = enc + e.getKey().substring("text_encoder".length());
                    NDArray expected = ref.get(name);
                    if (expected == null) {
                        continue; // encoder 1's last layer is not run: no record, and the reference has it
                    }
                    Allclose.assertClose(name, expected, e.getValue(), Fixtures.tolerance(FX, "debug_intermediates", name));
                    compared++;
                }
            }
            // encoder 1: embeddings + layers 0, 1 (layer 2 feeds nothing SDXL uses); encoder 2: embeddings, 4 layers, final LN
            assertEquals(3 + 6, compared);
        }
    }

    /** transformers before 4.31 saved the {@code position_ids} buffer (the SD fixtures have it); both loads work. */
    @Test
    void filesWithAndWithoutPositionIds() throws IOException {
        Path dir = tmp.resolve("text_encoder_2");
        Files.createDirectories(dir);
        Files.copy(Fixtures.dir(FX).resolve("text_encoder_2/config.json"), dir.resolve("config.json"));
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> tensors = SafeTensors.read(Fixtures.dir(FX).resolve("text_encoder_2/model.safetensors"), m);
            assertNull(tensors.get("text_model.embeddings.position_ids"), "the fixture has no position_ids");
            Map<String, NDArray> with = new LinkedHashMap<>(tensors);
            long[] positions = new long[77];
            for (int i = 0; i < positions.length; i++) {
                positions[i] = i;
            }
            with.put("text_model.embeddings.position_ids", m.create(positions, new Shape(1, 77)));
            SafeTensors.write(dir.resolve("model.safetensors"), with, Map.of());
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(FX, "text_encoder_2.safetensors"), m);
            try (NDManager w = NDManager.newBaseManager()) {
                ClipTextModel te2 = ClipTextModel.load(dir, w);
                Allclose.assertClose("text_embeds (file with position_ids)", ref.get("text_embeds"),
                        te2.encodeSdxl(ref.get("input_ids"), null).textEmbeds(),
                        Fixtures.tolerance(FX, "text_encoder_2", "text_embeds"));
            }
            // a missing projection is a load error naming the tensor
            Map<String, NDArray> without = new LinkedHashMap<>(tensors);
            without.remove("text_projection.weight");
            SafeTensors.write(dir.resolve("model.safetensors"), without, Map.of());
            try (NDManager w = NDManager.newBaseManager()) {
                Exception e = assertThrows(dev.tenstep.model.ModelLoadException.class, () -> ClipTextModel.load(dir, w));
                org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("text_projection.weight"), e.getMessage());
            }
        }
    }
}
