package dev.tenstep.pipeline.prompt;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

/**
 * Splits a prompt into CLIP chunks as AUTOMATIC1111 does ({@code tokenize_line} in its
 * {@code modules/sd_hijack_clip.py}): each chunk is {@code BOS + 75 tokens + EOS} (77 ids), shorter content is
 * padded (end token right after the content, then the pad id), and each id carries the emphasis weight of the text
 * it came from (1 for BOS, EOS and padding).
 * <ul>
 *   <li>When a chunk is full and a comma lies within its last 20 tokens, the tokens after that comma move to the
 *       next chunk, so a phrase is not split across chunks.</li>
 *   <li>A {@code BREAK} fragment closes the current chunk (padding it), even an empty one.</li>
 *   <li>An empty prompt is one chunk of {@code BOS EOS pad...}.</li>
 * </ul>
 *
 * @param ids        per chunk, 77 token ids
 * @param weights    per chunk, 77 emphasis weights
 * @param tokenCount A1111's token count: 75 per closed chunk plus the content of the last one
 */
public record PromptChunks(List<long[]> ids, List<float[]> weights, int tokenCount) {
    /** Content tokens per chunk. */
    public static final int CHUNK_TOKENS = 75;
    /** Ids per chunk with BOS and EOS. */
    public static final int CHUNK_LENGTH = CHUNK_TOKENS + 2;
    /** A full chunk breaks after a comma at most this many tokens back (A1111's {@code comma_padding_backtrack}). */
    public static final int COMMA_BACKTRACK = 20;

    /** The number of chunks (>= 1). */
    public int chunks() {
        return ids.size();
    }

    /** Whether every weight is 1 (no emphasis to apply). */
    public boolean unweighted() {
        for (float[] w : weights) {
            for (float v : w) {
                if (v != 1f) {
                    return false;
                }
            }
        }
        return true;
    }

    /**
     * Builds the chunks of parsed fragments.
     *
     * @param fragments the prompt's emphasis fragments ({@link Emphasis#parse}, or one weight-1 fragment)
     * @param tokenize  text to BPE ids without special tokens
     * @param bos       begin-of-text id
     * @param eos       end-of-text id
     * @param pad       pad id (eos for SD 1.x, 0 for SD 2.x)
     * @param comma     the id of {@code ,}
     */
    public static PromptChunks of(List<Emphasis.Fragment> fragments, Function<String, long[]> tokenize,
                                  long bos, long eos, long pad, long comma) {
        Builder b = new Builder(bos, eos, pad);
        for (Emphasis.Fragment f : fragments) {
            if (f.isBreak()) {
                b.next(false);
                continue;
            }
            for (long token : tokenize.apply(f.text())) {
                if (token == comma) {
                    b.lastComma = b.tokens.size();
                } else if (b.tokens.size() == CHUNK_TOKENS && b.lastComma != -1
                        && b.tokens.size() - b.lastComma <= COMMA_BACKTRACK) {
                    int at = b.lastComma + 1;
                    List<Long> moveTokens = new ArrayList<>(b.tokens.subList(at, b.tokens.size()));
                    List<Float> moveWeights = new ArrayList<>(b.weights.subList(at, b.weights.size()));
                    b.tokens.subList(at, b.tokens.size()).clear();
                    b.weights.subList(at, b.weights.size()).clear();
                    b.next(false);
                    b.tokens.addAll(moveTokens);
                    b.weights.addAll(moveWeights);
                }
                if (b.tokens.size() == CHUNK_TOKENS) {
                    b.next(false);
                }
                b.tokens.add(token);
                b.weights.add((float) f.weight());
            }
        }
        if (!b.tokens.isEmpty() || b.ids.isEmpty()) {
            b.next(true);
        }
        return new PromptChunks(List.copyOf(b.ids), List.copyOf(b.w), b.count);
    }

    private static final class Builder {
        final long bos;
        final long eos;
        final long pad;
        final List<long[]> ids = new ArrayList<>();
        final List<float[]> w = new ArrayList<>();
        List<Long> tokens = new ArrayList<>();
        List<Float> weights = new ArrayList<>();
        int lastComma = -1;
        int count;

        Builder(long bos, long eos, long pad) {
            this.bos = bos;
            this.eos = eos;
            this.pad = pad;
        }

        void next(boolean last) {
            count += last ? tokens.size() : CHUNK_TOKENS;
            long[] chunk = new long[CHUNK_LENGTH];
            float[] cw = new float[CHUNK_LENGTH];
            Arrays.fill(chunk, pad);
            Arrays.fill(cw, 1f);
            chunk[0] = bos;
            for (int i = 0; i < tokens.size(); i++) {
                chunk[1 + i] = tokens.get(i);
                cw[1 + i] = weights.get(i);
            }
            chunk[1 + tokens.size()] = eos;
            ids.add(chunk);
            w.add(cw);
            lastComma = -1;
            tokens = new ArrayList<>();
            weights = new ArrayList<>();
        }
    }
}
