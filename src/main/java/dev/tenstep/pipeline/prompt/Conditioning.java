package dev.tenstep.pipeline.prompt;

import ai.djl.ndarray.NDManager;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The text conditioning of one generation, step by step: the prompt's and the negative prompt's schedules
 * ({@link PromptSchedule}; constant without prompt editing or with {@link PromptSyntax#PLAIN}), each distinct text
 * encoded once ({@link PromptEncoder}), and for each sampler step the classifier-free-guidance context
 * [2, L, D] (row 0 negative, row 1 prompt). When the two rows have different chunk counts the shorter is padded
 * with chunks of the empty prompt's encoding (AUTOMATIC1111's "pad prompt/negative prompt to be same length").
 *
 * <p>SDXL adds a pooled text embedding per text ({@link #pooledAt}, [2, P]) and the <b>zero unconditional branch</b>:
 * built with {@code zeroEmptyNegative} (the model's {@code force_zeros_for_empty_prompt}), an empty negative prompt
 * gives row 0 all zeros, context and pooled embedding, instead of the encoding of "" (diffusers
 * {@code StableDiffusionXLPipeline.encode_prompt} with no negative prompt; A1111's SDXL conditioner with an empty
 * negative prompt). In this project's request model "no negative prompt" is the empty string.
 */
public final class Conditioning {
    private final PromptSchedule positive;
    private final PromptSchedule negative;
    private final List<PromptEncoder.Encoded> positiveTexts;
    private final List<PromptEncoder.Encoded> negativeTexts;
    private final PromptEncoder.Encoded empty;
    private final List<String> warnings;
    /** Row 0 is zeros (SDXL, empty negative prompt): the negative texts are not encoded. */
    private final boolean zeroNegative;

    private Conditioning(PromptSchedule positive, PromptSchedule negative, List<PromptEncoder.Encoded> positiveTexts,
                         List<PromptEncoder.Encoded> negativeTexts, PromptEncoder.Encoded empty, List<String> warnings,
                         boolean zeroNegative) {
        this.zeroNegative = zeroNegative;
        this.positive = positive;
        this.negative = negative;
        this.positiveTexts = positiveTexts;
        this.negativeTexts = negativeTexts;
        this.empty = empty;
        this.warnings = List.copyOf(warnings);
    }

    /**
     * Builds the conditioning of a (prompt, negative prompt) pair for a run of {@code steps} steps.
     *
     * @param encoder  the prompt encoder
     * @param manager  temporaries' parent manager
     * @param prompt   the prompt
     * @param negative the negative prompt ("" = unconditional)
     * @param steps    sampler steps (for prompt editing)
     * @param syntax   how to read the prompts
     * @param clipSkip 1 = last layer
     * @param cache    encodings already computed, keyed by {@link #cacheKey}; missing ones are added
     * @throws PromptSyntaxException if a prompt's emphasis cannot be read
     */
    public static Conditioning build(PromptEncoder encoder, NDManager manager, String prompt, String negative, int steps,
                                     PromptSyntax syntax, int clipSkip, Map<String, PromptEncoder.Encoded> cache) {
        return build(encoder, manager, prompt, negative, steps, syntax, clipSkip, cache, false);
    }

    /**
     * As {@link #build(PromptEncoder, NDManager, String, String, int, PromptSyntax, int, Map)}; with
     * {@code zeroEmptyNegative} an empty negative prompt ({@code ""}) gives the zero unconditional branch (SDXL's
     * {@code force_zeros_for_empty_prompt}); any other negative prompt is encoded.
     */
    public static Conditioning build(PromptEncoder encoder, NDManager manager, String prompt, String negative, int steps,
                                     PromptSyntax syntax, int clipSkip, Map<String, PromptEncoder.Encoded> cache,
                                     boolean zeroEmptyNegative) {
        boolean zero = zeroEmptyNegative && negative.isEmpty();
        PromptSchedule pos = PromptSchedule.of(prompt, steps, syntax);
        PromptSchedule neg = PromptSchedule.of(negative, steps, syntax);
        List<PromptEncoder.Encoded> p = new ArrayList<>();
        List<PromptEncoder.Encoded> n = new ArrayList<>();
        for (PromptSchedule.Entry e : pos.entries()) {
            p.add(encode(encoder, manager, e.text(), syntax, clipSkip, cache));
        }
        if (!zero) {
            for (PromptSchedule.Entry e : neg.entries()) {
                n.add(encode(encoder, manager, e.text(), syntax, clipSkip, cache));
            }
        }
        // zero rows span the prompt's chunks: no chunk of "" pads anything
        PromptEncoder.Encoded empty = zero ? null : encode(encoder, manager, "", syntax, clipSkip, cache);
        Set<String> warnings = new LinkedHashSet<>();
        warnLong("prompt", p, warnings);
        warnLong("negative prompt", n, warnings);
        return new Conditioning(pos, neg, p, n, empty, new ArrayList<>(warnings), zero);
    }

    private static void warnLong(String what, List<PromptEncoder.Encoded> texts, Set<String> warnings) {
        for (PromptEncoder.Encoded e : texts) {
            if (e.chunks() > 1) {
                warnings.add(what + " is " + e.tokenCount() + " tokens long: encoded in " + e.chunks()
                        + " chunks of 75 tokens, as AUTOMATIC1111 does (tools that cut prompts at 77 tokens draw a "
                        + "different picture)");
            }
        }
    }

    /** The cache key of a text's encoding. */
    public static String cacheKey(String text, PromptSyntax syntax, int clipSkip) {
        return syntax.id() + "|" + clipSkip + "|" + text;
    }

    private static PromptEncoder.Encoded encode(PromptEncoder encoder, NDManager manager, String text, PromptSyntax syntax,
                                                int clipSkip, Map<String, PromptEncoder.Encoded> cache) {
        String key = cacheKey(text, syntax, clipSkip);
        PromptEncoder.Encoded e = cache.get(key);
        if (e == null) {
            e = encoder.encode(manager, text, syntax, clipSkip);
            cache.put(key, e);
        }
        return e;
    }

    public PromptSchedule positive() {
        return positive;
    }

    public PromptSchedule negative() {
        return negative;
    }

    /** Notes for the user (long prompts), each once. */
    public List<String> warnings() {
        return warnings;
    }

    /** The most chunks any prompt text of this conditioning uses. */
    public int maxChunks() {
        int m = 1;
        for (PromptEncoder.Encoded e : positiveTexts) {
            m = Math.max(m, e.chunks());
        }
        for (PromptEncoder.Encoded e : negativeTexts) {
            m = Math.max(m, e.chunks());
        }
        return m;
    }

    /** The prompt's token count (A1111's count, of its first schedule entry). */
    public int tokenCount() {
        return positiveTexts.get(0).tokenCount();
    }

    /** Whether the context changes during sampling. */
    public boolean constant() {
        return positive.isConstant() && negative.isConstant();
    }

    /** Which entries condition 0-based step k: {@code p<i>/n<j>}. */
    public String idAt(int k) {
        return "p" + positive.indexAt(k) + "/n" + negative.indexAt(k);
    }

    /** Whether row 0 is the zero unconditional branch (SDXL, empty negative prompt). */
    public boolean zeroNegative() {
        return zeroNegative;
    }

    /** The shape of step k's context: [2, 77 * chunks, D]. */
    public long[] shapeAt(int k) {
        PromptEncoder.Encoded p = positiveTexts.get(positive.indexAt(k));
        int chunks = chunksAt(k);
        return new long[] {2, (long) chunks * PromptChunks.CHUNK_LENGTH, p.dim()};
    }

    private int chunksAt(int k) {
        int chunks = positiveTexts.get(positive.indexAt(k)).chunks();
        return zeroNegative ? chunks : Math.max(chunks, negativeTexts.get(negative.indexAt(k)).chunks());
    }

    /** Step k's context, row-major [2, 77 * chunks, D]: row 0 the negative prompt (zeros: {@link #zeroNegative}), row 1 the prompt. */
    public float[] contextAt(int k) {
        PromptEncoder.Encoded p = positiveTexts.get(positive.indexAt(k));
        int chunks = chunksAt(k);
        int row = chunks * PromptChunks.CHUNK_LENGTH * p.dim();
        float[] out = new float[2 * row];
        if (!zeroNegative) {
            fill(out, 0, negativeTexts.get(negative.indexAt(k)), chunks);
        }
        fill(out, row, p, chunks);
        return out;
    }

    /**
     * Step k's pooled text embeddings, row-major [2, P] (row 0 the negative prompt, zeros with {@link #zeroNegative};
     * row 1 the prompt), or null when the encoder pools nothing (SD 1.x/2.x).
     */
    public float[] pooledAt(int k) {
        float[] p = positiveTexts.get(positive.indexAt(k)).pooled();
        if (p == null) {
            return null;
        }
        float[] out = new float[2 * p.length];
        if (!zeroNegative) {
            float[] n = negativeTexts.get(negative.indexAt(k)).pooled();
            System.arraycopy(n, 0, out, 0, n.length);
        }
        System.arraycopy(p, 0, out, p.length, p.length);
        return out;
    }

    private void fill(float[] out, int offset, PromptEncoder.Encoded e, int chunks) {
        System.arraycopy(e.data(), 0, out, offset, e.data().length);
        int chunkSize = PromptChunks.CHUNK_LENGTH * e.dim();
        for (int c = e.chunks(); c < chunks; c++) {
            System.arraycopy(empty.data(), 0, out, offset + c * chunkSize, chunkSize);
        }
    }
}
