package dev.tenstep.model.clip;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.CharSpan;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tenstep.model.ModelLoadException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The CLIP byte-level BPE tokenizer of a Stable Diffusion {@code tokenizer/} folder (OpenAI CLIP
 * {@code simple_tokenizer.py}; Hugging Face {@code CLIPTokenizer}), run by DJL's Hugging Face
 * tokenizers binding.
 *
 * <p>Real SD folders carry only {@code vocab.json} + {@code merges.txt}; the CLIP pipeline is then
 * assembled here as a {@code tokenizer.json} document: normalizer NFC, {@code \s+} to one space,
 * lower-case; pre-tokenizer Split(CLIP pattern, removed, inverted) then ByteLevel (no prefix space,
 * no regex); BPE with end-of-word suffix {@code </w>} and unk {@code <|endoftext|>};
 * RobertaProcessing (bos, eos); truncation to 77 and fixed padding to 77 with the pad id. A folder
 * that has its own {@code tokenizer.json} uses it, with padding/truncation set as above.
 *
 * <p>Pad token: {@code special_tokens_map.json}'s {@code pad_token} wins over
 * {@code tokenizer_config.json}'s (SD1: {@code <|endoftext|>} = 49407, SD2: {@code !} = 0). The
 * text encoder config's bos/eos/pad ids are never used. A pad token that is an ordinary vocabulary
 * symbol (SD2's {@code !}) is not treated as a special token in prompt text: {@code !!!} is
 * tokenized by plain BPE, as CLIP was trained.
 *
 * <p>Instances hold native tokenizer handles: close them when done. Encoding is thread-safe.
 */
public final class ClipTokenizer implements AutoCloseable {
    /** Sequence length of every CLIP text encoder input (bos + 75 BPE tokens + eos, padded). */
    public static final int MAX_LENGTH = 77;

    /** CLIP's pre-tokenization pattern (simple_tokenizer.py), applied after lower-casing. */
    static final String CLIP_PATTERN =
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

    private static final String DEFAULT_BOS = "<|startoftext|>";
    private static final String DEFAULT_EOS = "<|endoftext|>";
    /** Hugging Face CLIPTokenizer reads only the first 49152 - 256 - 2 merge rules of merges.txt. */
    private static final int MAX_MERGES = 49152 - 256 - 2;
    private static final Pattern EDGE_WHITESPACE =
            Pattern.compile("^\\s+|\\s+$", Pattern.UNICODE_CHARACTER_CLASS);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HuggingFaceTokenizer fixed;
    private final HuggingFaceTokenizer untruncated;
    private final long bosId;
    private final long eosId;
    private final long padId;
    private final String padToken;

    /**
     * Result of {@link #encode}.
     *
     * @param ids         exactly {@value #MAX_LENGTH} token ids: bos, up to 75 BPE ids, eos, pad ids
     * @param tokenCount  the number of BPE tokens of the whole prompt (before truncation, without
     *                    bos/eos)
     * @param droppedText the end of the prompt whose tokens did not fit (text of the first dropped
     *                    token piece to the end of the prompt), or {@code ""} if nothing was dropped
     */
    public record Encoding(long[] ids, int tokenCount, String droppedText) {
        /** @return whether the prompt was longer than 75 BPE tokens and lost its end */
        public boolean truncated() {
            return !droppedText.isEmpty();
        }

        @Override
        public String toString() {
            return "Encoding[ids=" + Arrays.toString(ids) + ", tokenCount=" + tokenCount + ", droppedText=" + droppedText + "]";
        }
    }

    private ClipTokenizer(String tokenizerJson, long bosId, long eosId, long padId, String padToken) throws IOException {
        this.bosId = bosId;
        this.eosId = eosId;
        this.padId = padId;
        this.padToken = padToken;
        String len = String.valueOf(MAX_LENGTH);
        this.fixed = HuggingFaceTokenizer.newInstance(stream(tokenizerJson), Map.of(
                "addSpecialTokens", "true", "padding", "MAX_LENGTH", "truncation", "true",
                "maxLength", len, "modelMaxLength", len));
        try {
            this.untruncated = HuggingFaceTokenizer.newInstance(stream(tokenizerJson), Map.of(
                    "addSpecialTokens", "true", "padding", "false", "truncation", "false"));
        } catch (IOException | RuntimeException e) {
            fixed.close();
            throw e;
        }
    }

    private static InputStream stream(String s) {
        return new java.io.ByteArrayInputStream(s.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Loads the tokenizer of a diffusers {@code tokenizer/} folder.
     *
     * @param tokenizerDir folder with {@code vocab.json} and {@code merges.txt} (or a
     *                     {@code tokenizer.json}), optionally {@code special_tokens_map.json} and
     *                     {@code tokenizer_config.json}
     * @return the tokenizer (close it when done)
     * @throws ModelLoadException naming the missing or unreadable file, or a special token absent
     *                            from the vocabulary
     */
    public static ClipTokenizer load(Path tokenizerDir) {
        if (!Files.isDirectory(tokenizerDir)) {
            throw new ModelLoadException("missing tokenizer folder " + tokenizerDir);
        }
        String bos = specialToken(tokenizerDir, "bos_token", DEFAULT_BOS);
        String eos = specialToken(tokenizerDir, "eos_token", DEFAULT_EOS);
        String pad = specialToken(tokenizerDir, "pad_token", DEFAULT_EOS);
        String unk = specialToken(tokenizerDir, "unk_token", DEFAULT_EOS);
        Path own = tokenizerDir.resolve("tokenizer.json");
        ObjectNode doc;
        JsonNode vocab;
        if (Files.isRegularFile(own)) {
            doc = (ObjectNode) readJson(own);
            vocab = doc.path("model").path("vocab");
            if (!vocab.isObject()) {
                throw new ModelLoadException(own + ": no model.vocab (not a BPE tokenizer.json)");
            }
        } else {
            Path vocabFile = tokenizerDir.resolve("vocab.json");
            Path mergesFile = tokenizerDir.resolve("merges.txt");
            for (Path p : List.of(vocabFile, mergesFile)) {
                if (!Files.isRegularFile(p)) {
                    throw new ModelLoadException("tokenizer folder " + tokenizerDir + " has no " + p.getFileName()
                            + " (missing file " + p + "; a CLIP tokenizer needs vocab.json and merges.txt)");
                }
            }
            vocab = readJson(vocabFile);
            if (!vocab.isObject()) {
                throw new ModelLoadException(vocabFile + ": expected a JSON object token -> id");
            }
            doc = buildClipJson(vocab, readMerges(mergesFile), bos, eos, unk, vocabFile);
        }
        long bosId = idOf(vocab, bos, tokenizerDir);
        long eosId = idOf(vocab, eos, tokenizerDir);
        long padId = idOf(vocab, pad, tokenizerDir);
        configure(doc, bos, eos, pad, padId);
        try {
            return new ClipTokenizer(JSON.writeValueAsString(doc), bosId, eosId, padId, pad);
        } catch (IOException | RuntimeException e) {
            throw new ModelLoadException(tokenizerDir + ": cannot build the CLIP tokenizer: " + e.getMessage(), e);
        }
    }

    /**
     * Tokenizes one prompt: leading/trailing whitespace is stripped, whitespace runs collapse to one
     * space, text is lower-cased, then CLIP BPE; the result is bos + ids + eos, truncated to
     * {@value #MAX_LENGTH} (keeping eos last) and padded with the pad id.
     *
     * @param prompt any text (may be empty)
     * @return the {@value #MAX_LENGTH} ids, the BPE token count and the text dropped by truncation
     */
    public Encoding encode(String prompt) {
        String text = EDGE_WHITESPACE.matcher(prompt).replaceAll("");
        long[] ids = fixed.encode(text).getIds();
        if (ids.length != MAX_LENGTH) {
            throw new IllegalStateException("tokenizer produced " + ids.length + " ids, expected " + MAX_LENGTH);
        }
        ai.djl.huggingface.tokenizers.Encoding full = untruncated.encode(text);
        int count = full.getIds().length - 2;
        String dropped = "";
        int kept = MAX_LENGTH - 2;
        if (count > kept) {
            CharSpan[] spans = full.getCharTokenSpans();
            CharSpan first = spans[1 + kept];
            if (first != null) {
                int start = text.offsetByCodePoints(0, Math.min(first.getStart(), text.codePointCount(0, text.length())));
                dropped = text.substring(start).strip();
            }
            if (dropped.isEmpty()) {
                long[] rest = Arrays.copyOfRange(full.getIds(), 1 + kept, full.getIds().length - 1);
                dropped = untruncated.decode(rest, true).replace("</w>", " ").strip();
            }
        }
        return new Encoding(ids, count, dropped);
    }

    /**
     * The BPE ids of a piece of text without begin/end tokens, untruncated (Hugging Face
     * {@code tokenizer(text, add_special_tokens=False)}): the same normalisation as {@link #encode}.
     *
     * @param text any text (may be empty: no ids)
     */
    public long[] tokenize(String text) {
        String t = EDGE_WHITESPACE.matcher(text).replaceAll("");
        if (t.isEmpty()) {
            return new long[0];
        }
        long[] ids = untruncated.encode(t).getIds();
        if (ids.length < 2 || ids[0] != bosId || ids[ids.length - 1] != eosId) {
            throw new IllegalStateException("tokenizer did not add begin/end tokens to \"" + t + "\"");
        }
        return Arrays.copyOfRange(ids, 1, ids.length - 1);
    }

    /** @return the pad id (49407 for SD1, 0 for SD2) */
    public long padId() {
        return padId;
    }

    /** @return the pad token string ({@code <|endoftext|>} for SD1, {@code !} for SD2) */
    public String padToken() {
        return padToken;
    }

    /** @return the begin-of-text id (49406 for CLIP) */
    public long bosId() {
        return bosId;
    }

    /** @return the end-of-text id (49407 for CLIP) */
    public long eosId() {
        return eosId;
    }

    /** Releases the native tokenizer handles. */
    @Override
    public void close() {
        fixed.close();
        untruncated.close();
    }

    // ---------------------------------------------------------------- tokenizer.json construction

    static ObjectNode buildClipJson(JsonNode vocab, List<String> merges, String bos, String eos, String unk, Path vocabFile) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode doc = f.objectNode();
        doc.put("version", "1.0");

        ArrayNode added = doc.putArray("added_tokens");
        for (String special : new String[] {bos, eos}) {
            JsonNode id = vocab.get(special);
            if (id == null) {
                throw new ModelLoadException(vocabFile + ": special token '" + special + "' is not in the vocabulary");
            }
            ObjectNode t = added.addObject();
            t.put("id", id.asLong());
            t.put("content", special);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", true);
            t.put("special", true);
        }

        ObjectNode normalizer = doc.putObject("normalizer");
        normalizer.put("type", "Sequence");
        ArrayNode norms = normalizer.putArray("normalizers");
        norms.addObject().put("type", "NFC");
        ObjectNode replace = norms.addObject();
        replace.put("type", "Replace");
        replace.putObject("pattern").put("Regex", "\\s+");
        replace.put("content", " ");
        norms.addObject().put("type", "Lowercase");

        ObjectNode pre = doc.putObject("pre_tokenizer");
        pre.put("type", "Sequence");
        ArrayNode pres = pre.putArray("pretokenizers");
        ObjectNode split = pres.addObject();
        split.put("type", "Split");
        split.putObject("pattern").put("Regex", CLIP_PATTERN);
        split.put("behavior", "Removed");
        split.put("invert", true);
        ObjectNode byteLevel = pres.addObject();
        byteLevel.put("type", "ByteLevel");
        byteLevel.put("add_prefix_space", false);
        byteLevel.put("trim_offsets", true);
        byteLevel.put("use_regex", false);

        ObjectNode decoder = doc.putObject("decoder");
        decoder.put("type", "ByteLevel");
        decoder.put("add_prefix_space", false);
        decoder.put("trim_offsets", true);
        decoder.put("use_regex", false);

        ObjectNode model = doc.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.put("unk_token", unk);
        model.putNull("continuing_subword_prefix");
        model.put("end_of_word_suffix", "</w>");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.set("vocab", vocab);
        ArrayNode m = model.putArray("merges");
        merges.forEach(m::add);
        return doc;
    }

    /** Sets post-processor, truncation and padding, and keeps an ordinary-symbol pad token out of the special tokens. */
    private static void configure(ObjectNode doc, String bos, String eos, String pad, long padId) {
        JsonNode vocab = doc.path("model").path("vocab");
        ObjectNode post = doc.putObject("post_processor");
        post.put("type", "RobertaProcessing");
        post.putArray("sep").add(eos).add(vocab.get(eos).asLong());
        post.putArray("cls").add(bos).add(vocab.get(bos).asLong());
        post.put("trim_offsets", false);
        post.put("add_prefix_space", false);

        ObjectNode trunc = doc.putObject("truncation");
        trunc.put("direction", "Right");
        trunc.put("max_length", MAX_LENGTH);
        trunc.put("strategy", "LongestFirst");
        trunc.put("stride", 0);

        ObjectNode padding = doc.putObject("padding");
        padding.putObject("strategy").put("Fixed", MAX_LENGTH);
        padding.put("direction", "Right");
        padding.putNull("pad_to_multiple_of");
        padding.put("pad_id", padId);
        padding.put("pad_type_id", 0);
        padding.put("pad_token", pad);

        // README "Decision on !": a pad token that is an ordinary BPE symbol must not be matched
        // as a special token inside the prompt.
        JsonNode added = doc.get("added_tokens");
        if (added instanceof ArrayNode arr && !pad.equals(bos) && !pad.equals(eos)) {
            for (int i = arr.size() - 1; i >= 0; i--) {
                if (pad.equals(arr.get(i).path("content").asText())) {
                    arr.remove(i);
                }
            }
        }
    }

    private static List<String> readMerges(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new ModelLoadException(file + ": cannot read: " + e.getMessage(), e);
        }
        List<String> merges = new ArrayList<>(lines.size());
        for (String line : lines) {
            if (line.startsWith("#version") || line.isBlank()) {
                continue;
            }
            if (line.split(" ").length != 2) {
                throw new ModelLoadException(file + ": malformed merge rule '" + line + "' (expected 'a b')");
            }
            merges.add(line);
            if (merges.size() == MAX_MERGES) {
                break;
            }
        }
        return merges;
    }

    private static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new ModelLoadException(file + ": cannot read JSON: " + e.getMessage(), e);
        }
    }

    /** A special token from special_tokens_map.json, else tokenizer_config.json, else the default. */
    static String specialToken(Path dir, String key, String dflt) {
        for (String name : List.of("special_tokens_map.json", "tokenizer_config.json")) {
            Path p = dir.resolve(name);
            if (!Files.isRegularFile(p)) {
                continue;
            }
            JsonNode v = readJson(p).get(key);
            if (v == null || v.isNull()) {
                continue;
            }
            if (v.isTextual()) {
                return v.asText();
            }
            if (v.isObject() && v.get("content") != null && v.get("content").isTextual()) {
                return v.get("content").asText();
            }
            throw new ModelLoadException(p + ": unexpected value for " + key + ": " + v);
        }
        return dflt;
    }

    private static long idOf(JsonNode vocab, String token, Path dir) {
        JsonNode id = vocab.get(token);
        if (id == null || !id.canConvertToLong()) {
            throw new ModelLoadException(dir + ": special token '" + token + "' is not in the vocabulary");
        }
        return id.asLong();
    }
}
