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
 * For SDXL ({@link #PromptEncoder(ClipTokenizer, ClipTextModel, ClipTokenizer, ClipTextModel)}) each chunk goes
 * through both text encoders as A1111's SDXL conditioner does: each encoder's penultimate hidden state (no final
 * LayerNorm; diffusers {@code encode_prompt}), emphasis applied per encoder, the two concatenated on the feature
 * axis (encoder 1 first), [77, D1 + D2]; the pooled, projected output of encoder 2 for the first chunk is the
 * text's {@link Encoded#pooled} (A1111 pools the first chunk; emphasis does not change it). The tokenizers differ
 * only in their pad ids, so both see the same chunks.
 *
 * <p>Not thread-safe only in the sense of its arguments: the tokenizers and text encoders are shared read-only.
 */
public final class PromptEncoder {
    private final ClipTokenizer tokenizer;
    private final ClipTextModel textEncoder;
    /** SDXL's second tokenizer and text encoder (OpenCLIP bigG with projection), or null. */
    private final ClipTokenizer tokenizer2;
    private final ClipTextModel textEncoder2;
    private final long comma;

    public PromptEncoder(ClipTokenizer tokenizer, ClipTextModel textEncoder) {
        this(tokenizer, textEncoder, null, null);
    }

    /**
     * An SDXL prompt encoder: the same prompt through both tokenizers and text encoders (diffusers uses
     * {@code prompt_2 = prompt} when no second prompt is given).
     *
     * @param tokenizer2   the second tokenizer (null for SD 1.x/2.x)
     * @param textEncoder2 the second text encoder, with a projection head ({@code CLIPTextModelWithProjection})
     * @throws IllegalArgumentException if only one of the two is given or the second encoder has no projection
     */
    public PromptEncoder(ClipTokenizer tokenizer, ClipTextModel textEncoder, ClipTokenizer tokenizer2,
                         ClipTextModel textEncoder2) {
        if ((tokenizer2 == null) != (textEncoder2 == null)) {
            throw new IllegalArgumentException("a second text encoder needs its tokenizer and vice versa");
        }
        if (textEncoder2 != null && textEncoder2.textProjection == null) {
            throw new IllegalArgumentException("the second text encoder has no text_projection (SDXL's text_encoder_2 is a "
                    + "CLIPTextModelWithProjection)");
        }
        this.tokenizer = tokenizer;
        this.textEncoder = textEncoder;
        this.tokenizer2 = tokenizer2;
        this.textEncoder2 = textEncoder2;
        long[] c = tokenizer.tokenize(",");
        this.comma = c.length == 1 ? c[0] : -1;
    }

    /** Whether this encodes with SDXL's two text encoders (a pooled embedding per text). */
    public boolean dual() {
        return textEncoder2 != null;
    }

    /**
     * One encoded prompt text.
     *
     * @param data       row-major float32 [chunks * 77, dim]
     * @param chunks     number of 77-token chunks
     * @param dim        hidden size D
     * @param tokenCount A1111's token count ({@link PromptChunks#tokenCount()})
     * @param pooled     SDXL: the pooled, projected text embedding of encoder 2 for the first chunk [projection_dim];
     *                   null for SD 1.x/2.x
     */
    public record Encoded(float[] data, int chunks, int dim, int tokenCount, float[] pooled) {
        /** An encoding without pooled embedding (SD 1.x/2.x). */
        public Encoded(float[] data, int chunks, int dim, int tokenCount) {
            this(data, chunks, dim, tokenCount, null);
        }

        /** Token positions: 77 per chunk. */
        public int length() {
            return chunks * PromptChunks.CHUNK_LENGTH;
        }
    }

    /** The chunks of a text (no text encoder run): for token counts and tests. */
    public PromptChunks chunks(String text, PromptSyntax syntax) {
        return chunks(text, syntax, tokenizer);
    }

    private PromptChunks chunks(String text, PromptSyntax syntax, ClipTokenizer tok) {
        List<Emphasis.Fragment> fragments = syntax == PromptSyntax.PLAIN
                ? List.of(new Emphasis.Fragment(text, 1.0))
                : Emphasis.parse(text);
        return PromptChunks.of(fragments, tok::tokenize, tok.bosId(), tok.eosId(), tok.padId(), comma);
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
        if (dual() && clipSkip != 1) {
            throw new IllegalArgumentException("clip_skip: SDXL conditions on the penultimate layer of both text encoders; "
                    + "only clip skip 1 is supported, got " + clipSkip);
        }
        PromptChunks c = chunks(text, syntax);
        int n = c.chunks();
        try (NDManager m = manager.newSubManager()) {
            NDArray ids = m.create(flatIds(c), new Shape(n, PromptChunks.CHUNK_LENGTH));
            if (!dual()) {
                NDArray z = weighted(fp32(textEncoder.forward(ids, clipSkip)), c, m);
                return new Encoded(z.toFloatArray(), n, (int) z.getShape().get(1), c.tokenCount());
            }
            PromptChunks c2 = chunks(text, syntax, tokenizer2);
            if (c2.chunks() != n) {
                throw new IllegalStateException("the two tokenizers split \"" + text + "\" into " + n + " and " + c2.chunks()
                        + " chunks");
            }
            ClipTextModel.SdxlOutput a = textEncoder.encodeSdxl(ids, null);
            ClipTextModel.SdxlOutput b = textEncoder2.encodeSdxl(m.create(flatIds(c2), new Shape(n, PromptChunks.CHUNK_LENGTH)), null);
            NDArray z = weighted(fp32(a.penultimate()), c, m).concat(weighted(fp32(b.penultimate()), c2, m), 1);
            float[] pooled = fp32(b.textEmbeds()).get(0).toFloatArray();
            return new Encoded(z.toFloatArray(), n, (int) z.getShape().get(1), c.tokenCount(), pooled);
        }
    }

    private static long[] flatIds(PromptChunks c) {
        long[] ids = new long[c.chunks() * PromptChunks.CHUNK_LENGTH];
        for (int i = 0; i < c.chunks(); i++) {
            System.arraycopy(c.ids().get(i), 0, ids, i * PromptChunks.CHUNK_LENGTH, PromptChunks.CHUNK_LENGTH);
        }
        return ids;
    }

    /** A half-precision text encoder's output: the conditioning is kept and weighted in fp32. */
    private static NDArray fp32(NDArray z) {
        return z.getDataType() == ai.djl.ndarray.types.DataType.FLOAT32 ? z : z.toType(ai.djl.ndarray.types.DataType.FLOAT32, false);
    }

    /** z [chunks, 77, D] with each chunk's emphasis applied (mean restored), as [chunks * 77, D]. */
    private static NDArray weighted(NDArray z, PromptChunks c, NDManager m) {
        int n = c.chunks();
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
        return n == 1 ? rows.get(0) : NDArrays.concat(rows);
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
