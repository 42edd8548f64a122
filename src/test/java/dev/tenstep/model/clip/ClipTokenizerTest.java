package dev.tenstep.model.clip;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
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
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ClipTokenizerTest {

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21})
    void allSixteenCasesExact(String fixture) throws IOException {
        JsonNode prompts = Fixtures.caseById(fixture, "tokenizer").get("inputs").get("prompts");
        assertEquals(16, prompts.size());
        try (NDManager manager = NDManager.newBaseManager();
             ClipTokenizer tok = ClipTokenizer.load(Fixtures.dir(fixture).resolve("tokenizer"))) {
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(fixture, "tokenizer.safetensors"), manager);
            for (JsonNode p : prompts) {
                String tensor = p.get("tensor").asText();
                ClipTokenizer.Encoding enc = tok.encode(p.get("prompt").asText());
                assertEquals(ClipTokenizer.MAX_LENGTH, enc.ids().length);
                NDArray actual = manager.create(enc.ids()).reshape(1, ClipTokenizer.MAX_LENGTH);
                Allclose.assertExact(fixture + " " + tensor + " " + p.get("prompt").asText(), ref.get(tensor), actual);
                assertEquals(p.get("bpe_token_count").asInt(), enc.tokenCount(), fixture + " " + tensor + " token count");
                assertEquals(enc.tokenCount() > 75, enc.truncated(), tensor + " truncated flag");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {Fixtures.SD15, Fixtures.SD21})
    void longPromptReportsDroppedWords(String fixture) {
        String prompt = Fixtures.caseById(fixture, "tokenizer").get("inputs").get("prompts").get(6).get("prompt").asText();
        try (ClipTokenizer tok = ClipTokenizer.load(Fixtures.dir(fixture).resolve("tokenizer"))) {
            ClipTokenizer.Encoding enc = tok.encode(prompt);
            assertEquals(81, enc.tokenCount());
            assertTrue(enc.truncated());
            System.out.println("[tokenizer] " + fixture + " dropped: '" + enc.droppedText() + "'");
            // 6 BPE tokens do not fit: the prompt's tail from the first dropped piece on
            assertTrue(prompt.endsWith(enc.droppedText()), enc.droppedText());
            assertEquals("engine 5, award winning masterpiece", enc.droppedText());
            // cross-check: the dropped text is 6 BPE tokens and the rest is exactly what was kept
            assertEquals(6, tok.encode(enc.droppedText()).tokenCount());
            String kept = prompt.substring(0, prompt.length() - enc.droppedText().length());
            ClipTokenizer.Encoding keptEnc = tok.encode(kept);
            assertEquals(75, keptEnc.tokenCount());
            assertFalse(keptEnc.truncated());
            assertArrayEquals(enc.ids(), keptEnc.ids());
            assertEquals(tok.eosId(), enc.ids()[76]);

            ClipTokenizer.Encoding shortOne = tok.encode("a photo of an astronaut riding a horse on mars");
            assertFalse(shortOne.truncated());
            assertEquals("", shortOne.droppedText());
        }
    }

    @Test
    void droppedTextAfterEmojiUsesJavaStringIndices() {
        // offsets from the native tokenizer count code points; the emoji are UTF-16 surrogate pairs
        String prompt = "\uD83D\uDC36\uD83D\uDE80 " + "red cat ".repeat(40);
        try (ClipTokenizer tok = ClipTokenizer.load(Fixtures.dir(Fixtures.SD15).resolve("tokenizer"))) {
            ClipTokenizer.Encoding enc = tok.encode(prompt);
            assertTrue(enc.truncated());
            String dropped = enc.droppedText();
            assertTrue(dropped.startsWith("red cat") || dropped.startsWith("cat"), dropped);
            assertTrue(prompt.strip().endsWith(dropped), dropped);
            String kept = prompt.strip().substring(0, prompt.strip().length() - dropped.length());
            assertArrayEquals(enc.ids(), tok.encode(kept).ids());
            assertEquals(enc.tokenCount() - 75, tok.encode(dropped).tokenCount());
        }
    }

    @Test
    void padIds() {
        try (ClipTokenizer sd15 = ClipTokenizer.load(Fixtures.dir(Fixtures.SD15).resolve("tokenizer"));
             ClipTokenizer sd21 = ClipTokenizer.load(Fixtures.dir(Fixtures.SD21).resolve("tokenizer"))) {
            assertEquals(49407, sd15.padId());
            assertEquals(0, sd21.padId());
            assertEquals("!", sd21.padToken());
            assertEquals(49406, sd21.bosId());
            assertEquals(49407, sd21.eosId());
            long[] a = sd15.encode("").ids();
            long[] b = sd21.encode("").ids();
            assertEquals(49406, a[0]);
            assertEquals(49407, a[1]);
            assertEquals(49407, a[76]);
            assertEquals(49406, b[0]);
            assertEquals(49407, b[1]);
            assertEquals(0, b[2]);
            assertEquals(0, b[76]);
            // '!' in a prompt is plain BPE even when it is the pad token
            long[] bang = sd21.encode("wow!!!").ids();
            assertEquals(995, bang[2], "!!!</w>");
            assertEquals(sd15.encode("wow!!!").ids()[2], bang[2]);
        }
    }

    @Test
    void folderTokenizerJsonIsUsedWithCanonicalBang(@TempDir Path tmp) throws IOException {
        // an SD2 folder with its own tokenizer.json (no vocab/merges) in which '!' was registered
        // as an added token, as the Hugging Face tokenizer does once '!' is the pad token
        Path src = Fixtures.dir(Fixtures.SD21).resolve("tokenizer");
        ObjectMapper json = new ObjectMapper();
        JsonNode vocab = json.readTree(src.resolve("vocab.json").toFile());
        List<String> merges = Files.readAllLines(src.resolve("merges.txt")).stream()
                .filter(l -> !l.startsWith("#version") && !l.isBlank()).toList();
        ObjectNode doc = ClipTokenizer.buildClipJson(vocab, merges, "<|startoftext|>", "<|endoftext|>", "<|endoftext|>", src);
        ObjectNode bang = ((ArrayNode) doc.get("added_tokens")).addObject();
        bang.put("id", 0).put("content", "!").put("single_word", false).put("lstrip", false)
                .put("rstrip", false).put("normalized", false).put("special", true);
        Files.writeString(tmp.resolve("tokenizer.json"), json.writeValueAsString(doc));
        Files.copy(src.resolve("special_tokens_map.json"), tmp.resolve("special_tokens_map.json"));
        Files.copy(src.resolve("tokenizer_config.json"), tmp.resolve("tokenizer_config.json"));
        try (NDManager manager = NDManager.newBaseManager();
             ClipTokenizer own = ClipTokenizer.load(tmp)) {
            assertEquals(0, own.padId());
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(Fixtures.SD21, "tokenizer.safetensors"), manager);
            for (JsonNode p : Fixtures.caseById(Fixtures.SD21, "tokenizer").get("inputs").get("prompts")) {
                String tensor = p.get("tensor").asText();
                Allclose.assertExact("own tokenizer.json " + tensor, ref.get(tensor),
                        manager.create(own.encode(p.get("prompt").asText()).ids()).reshape(1, 77));
            }
        }
    }

    @Test
    void missingMergesIsAClearError(@TempDir Path tmp) throws IOException {
        Path src = Fixtures.dir(Fixtures.SD15).resolve("tokenizer");
        Files.copy(src.resolve("vocab.json"), tmp.resolve("vocab.json"));
        Files.copy(src.resolve("special_tokens_map.json"), tmp.resolve("special_tokens_map.json"));
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> ClipTokenizer.load(tmp));
        assertTrue(e.getMessage().contains("merges.txt"), e.getMessage());
        Files.delete(tmp.resolve("vocab.json"));
        e = assertThrows(ModelLoadException.class, () -> ClipTokenizer.load(tmp));
        assertTrue(e.getMessage().contains("vocab.json"), e.getMessage());
    }
}
