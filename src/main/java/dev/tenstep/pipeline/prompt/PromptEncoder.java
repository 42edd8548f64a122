package dev.tenstep.pipeline.prompt;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.model.clip.ClipTextModel;
import dev.tenstep.model.clip.ClipTokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Turns one prompt text (one step of a prompt schedule) into text-encoder conditioning as AUTOMATIC1111 does
 * ({@code modules/sd_hijack_clip.py}, emphasis "Original"):
 * <ol>
 *   <li>emphasis fragments ({@link Emphasis}, or the whole text at weight 1 for {@link PromptSyntax#PLAIN});</li>
 *   <li>75-token chunks ({@link PromptChunks});</li>
 *   <li>each chunk through the text encoder (with clip skip), [77, D];</li>
 *   <li>emphasis: {@code z' = z * w[token]}, then {@code z'' = z' * (mean(z) / mean(z'))} so the chunk's mean is
 *       unchanged; skipped for a chunk whose weights are all 1 (bit-identical to no emphasis);</li>
 *   <li>the chunks concatenated on the token axis: [77 * chunks, D].</li>
 * </ol>
 * Not thread-safe only in the sense of its arguments: the tokenizer and text encoder are shared read-only.
 */
public final class PromptEncoder {
    private final ClipTokenizer tokenizer;
    private final ClipTextModel textEncoder;
    private final long comma;

    public PromptEncoder(ClipTokenizer tokenizer, ClipTextModel textEncoder) {
        this.tokenizer = tokenizer;
        this.textEncoder = textEncoder;
        long[] c = tokenizer.tokenize(",");
        this.comma = c.length == 1 ? c[0] : -1;
    }

    /**
     * One encoded prompt text.
     *
     * @param data       row-major float32 [chunks * 77, dim]
     * @param chunks     number of 77-token chunks
     * @param dim        hidden size D
     * @param tokenCount A1111's token count ({@link PromptChunks#tokenCount()})
     */
    public record Encoded(float[] data, int chunks, int dim, int tokenCount) {
        /** Token positions: 77 per chunk. */
        public int length() {
            return chunks * PromptChunks.CHUNK_LENGTH;
        }
    }

    /** The chunks of a text (no text encoder run): for token counts and tests. */
    public PromptChunks chunks(String text, PromptSyntax syntax) {
        List<Emphasis.Fragment> fragments = syntax == PromptSyntax.PLAIN
                ? List.of(new Emphasis.Fragment(text, 1.0))
                : Emphasis.parse(text);
        return PromptChunks.of(fragments, tokenizer::tokenize, tokenizer.bosId(), tokenizer.eosId(),
                tokenizer.padId(), comma);
    }

    /**
     * Encodes one text.
     *
     * @param manager  where the temporaries live (closed by the caller)
     * @param text     the prompt text of one schedule entry
     * @param syntax   how to read it
     * @param clipSkip 1 = last layer
     * @throws PromptSyntaxException if the emphasis cannot be read
     */
    public Encoded encode(NDManager manager, String text, PromptSyntax syntax, int clipSkip) {
        PromptChunks c = chunks(text, syntax);
        int n = c.chunks();
        long[] ids = new long[n * PromptChunks.CHUNK_LENGTH];
        for (int i = 0; i < n; i++) {
            System.arraycopy(c.ids().get(i), 0, ids, i * PromptChunks.CHUNK_LENGTH, PromptChunks.CHUNK_LENGTH);
        }
        try (NDManager m = manager.newSubManager()) {
            NDArray z = textEncoder.forward(m.create(ids, new Shape(n, PromptChunks.CHUNK_LENGTH)), clipSkip);
            if (z.getDataType() != ai.djl.ndarray.types.DataType.FLOAT32) {
                // a half-precision text encoder: the conditioning is kept and weighted in fp32
                z = z.toType(ai.djl.ndarray.types.DataType.FLOAT32, false);
            }
            int dim = (int) z.getShape().get(2);
            List<NDArray> rows = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                NDArray zi = z.get(i);
                float[] w = c.weights().get(i);
                if (!allOne(w)) {
                    NDArray mean = zi.mean();
                    NDArray weighted = zi.mul(m.create(w, new Shape(PromptChunks.CHUNK_LENGTH, 1)));
                    zi = weighted.mul(mean.div(weighted.mean()));
                }
                rows.add(zi);
            }
            NDArray all = n == 1 ? rows.get(0) : NDArrays.concat(rows);
            return new Encoded(all.toFloatArray(), n, dim, c.tokenCount());
        }
    }

    /** A1111-style token count text, e.g. {@code 150/150} (used / chunks x 75). */
    public static String countLabel(PromptChunks c) {
        return String.format(Locale.ROOT, "%d/%d", c.tokenCount(), c.chunks() * PromptChunks.CHUNK_TOKENS);
    }

    private static boolean allOne(float[] w) {
        for (float v : w) {
            if (v != 1f) {
                return false;
            }
        }
        return true;
    }

    /** Concatenation helper (DJL's NDArrays.concat takes an NDList). */
    private static final class NDArrays {
        static NDArray concat(List<NDArray> rows) {
            return ai.djl.ndarray.NDArrays.concat(new ai.djl.ndarray.NDList(rows), 0);
        }
    }
}
