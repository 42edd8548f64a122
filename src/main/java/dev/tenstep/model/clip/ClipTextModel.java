package dev.tenstep.model.clip;

import dev.tenstep.model.nn.Profiler;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.model.Weights;
import dev.tenstep.model.config.Configs;
import dev.tenstep.model.config.TextEncoderConfig;
import dev.tenstep.model.nn.LayerNorm;
import dev.tenstep.model.nn.Linear;
import dev.tenstep.model.nn.Ops;
import dev.tenstep.model.nn.Patchable;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * The CLIP text transformer of a Stable Diffusion pipeline (Hugging Face transformers
 * {@code modeling_clip.py}, {@code CLIPTextModel}; output {@code last_hidden_state}), and SDXL's
 * {@code CLIPTextModelWithProjection} (the same transformer plus {@code text_projection}, see
 * {@link #encodeSdxl}).
 *
 * <p>{@code x = token_embedding[ids] + position_embedding[0..L-1]}; then {@code num_hidden_layers}
 * pre-LN blocks {@code x += out_proj(attn(layer_norm1(x)))} (causal, q scaled by head_dim^-0.5)
 * and {@code x += fc2(act(fc1(layer_norm2(x))))} with {@code quick_gelu} or exact {@code gelu};
 * finally {@code final_layer_norm}. All configured layers are run: SD2 repos ship a
 * 23-layer encoder to select OpenCLIP's penultimate layer.
 *
 * <p>Fields mirror the Hugging Face weight names ({@code text_model.embeddings.token_embedding.weight},
 * {@code text_model.encoder.layers.N.self_attn.q_proj.weight}, {@code text_model.final_layer_norm.weight}).
 * Weights are read-only memory maps owned by the manager given to {@link #load}; activations
 * belong to the manager of the input ids.
 */
public final class ClipTextModel {
    /** {@code text_model.embeddings}. */
    public static final class Embeddings {
        /** {@code token_embedding.weight} [vocab, hidden]. */
        public final NDArray tokenEmbedding;
        /** {@code position_embedding.weight} [max_positions, hidden]. */
        public final NDArray positionEmbedding;

        Embeddings(Weights w, String prefix, TextEncoderConfig c) {
            this.tokenEmbedding = w.take(prefix + ".token_embedding.weight", c.vocabSize(), c.hiddenSize());
            this.positionEmbedding = w.take(prefix + ".position_embedding.weight", c.maxPositionEmbeddings(), c.hiddenSize());
            w.ignore(prefix + ".position_ids");
        }

        /** ids [B, L] int64 -> [B, L, hidden] on the ids' manager. */
        NDArray forward(NDArray ids) {
            long len = ids.getShape().get(1);
            NDArray tokens = ai.djl.nn.core.Embedding.embedding(ids, tokenEmbedding, SparseFormat.DENSE).singletonOrThrow();
            NDArray positions = positionEmbedding.get(ids.getManager(), new NDIndex("0:{}", len));
            return tokens.add(positions);
        }
    }

    /** {@code self_attn}: multi-head causal self-attention with biased q/k/v/out projections. */
    public static final class SelfAttention {
        public final Linear qProj;
        public final Linear kProj;
        public final Linear vProj;
        public final Linear outProj;
        private final long heads;
        private final float scale;

        SelfAttention(Weights w, String prefix, TextEncoderConfig c) {
            long d = c.hiddenSize();
            this.qProj = new Linear(w, prefix + ".q_proj", d, d, true);
            this.kProj = new Linear(w, prefix + ".k_proj", d, d, true);
            this.vProj = new Linear(w, prefix + ".v_proj", d, d, true);
            this.outProj = new Linear(w, prefix + ".out_proj", d, d, true);
            this.heads = c.numAttentionHeads();
            this.scale = (float) Math.pow((double) d / heads, -0.5);
        }

        /** x [B, L, hidden], mask [L, L] additive -> [B, L, hidden]. */
        NDArray forward(NDArray x, NDArray causalMask) {
            NDArray q = Ops.splitHeads(qProj.forward(x), heads);
            NDArray k = Ops.splitHeads(kProj.forward(x), heads);
            NDArray v = Ops.splitHeads(vProj.forward(x), heads);
            NDArray out = Ops.attention(q, k, v, scale, causalMask);
            return outProj.forward(Ops.mergeHeads(out, heads));
        }
    }

    /** {@code mlp}: fc1 -> activation -> fc2. */
    public static final class Mlp {
        public final Linear fc1;
        public final Linear fc2;
        private final boolean quickGelu;

        Mlp(Weights w, String prefix, TextEncoderConfig c) {
            this.fc1 = new Linear(w, prefix + ".fc1", c.hiddenSize(), c.intermediateSize(), true);
            this.fc2 = new Linear(w, prefix + ".fc2", c.intermediateSize(), c.hiddenSize(), true);
            this.quickGelu = c.hiddenAct().equals("quick_gelu");
        }

        NDArray forward(NDArray x) {
            NDArray h = fc1.forward(x);
            return fc2.forward(quickGelu ? Ops.quickGelu(h) : Ops.gelu(h));
        }
    }

    /** {@code text_model.encoder.layers.N}: a pre-LN transformer block. */
    public static final class EncoderLayer {
        public final SelfAttention selfAttn;
        public final LayerNorm layerNorm1;
        public final Mlp mlp;
        public final LayerNorm layerNorm2;

        EncoderLayer(Weights w, String prefix, TextEncoderConfig c) {
            this.selfAttn = new SelfAttention(w, prefix + ".self_attn", c);
            this.layerNorm1 = new LayerNorm(w, prefix + ".layer_norm1", c.hiddenSize(), c.layerNormEps());
            this.mlp = new Mlp(w, prefix + ".mlp", c);
            this.layerNorm2 = new LayerNorm(w, prefix + ".layer_norm2", c.hiddenSize(), c.layerNormEps());
        }

        /** x [B, L, hidden] -> [B, L, hidden] (the residual stream after this layer). */
        NDArray forward(NDArray x, NDArray causalMask) {
            NDArray h = x.add(selfAttn.forward(layerNorm1.forward(x), causalMask));
            return h.add(mlp.forward(layerNorm2.forward(h)));
        }
    }

    /** {@code text_model.encoder}. */
    public static final class Encoder {
        public final List<EncoderLayer> layers;

        Encoder(Weights w, String prefix, TextEncoderConfig c) {
            List<EncoderLayer> l = new ArrayList<>();
            for (int i = 0; i < c.numHiddenLayers(); i++) {
                l.add(new EncoderLayer(w, prefix + ".layers." + i, c));
            }
            this.layers = Collections.unmodifiableList(l);
        }
    }

    private final TextEncoderConfig config;
    /** Every Linear by weight name: what a LoRA changes. */
    private final Map<String, Patchable> layers;
    public final Embeddings embeddings;
    public final Encoder encoder;
    public final LayerNorm finalLayerNorm;
    /**
     * {@code text_projection} [projection_dim, hidden], no bias, of a {@code CLIPTextModelWithProjection}
     * (config {@link TextEncoderConfig#projection}); null for a {@code CLIPTextModel}.
     */
    public final Linear textProjection;

    /**
     * What SDXL takes from one text encoder ({@link #encodeSdxl}).
     *
     * @param penultimate {@code hidden_states[-2]} [B, L, hidden]: the residual stream after layer N - 1 of N, without
     *                    {@code final_layer_norm}
     * @param textEmbeds  {@code text_embeds} [B, projection_dim] of a model with a projection head, else null
     */
    public record SdxlOutput(NDArray penultimate, NDArray textEmbeds) {
    }

    /**
     * Builds the model from {@code config}, taking every weight from {@code w} (e.g. a file, or
     * {@link Weights#random} for the demo pipeline); the caller calls {@link Weights#finish()}.
     */
    public ClipTextModel(Weights w, TextEncoderConfig config) {
        this.config = config;
        Set<String> before = Set.copyOf(w.layers().keySet());
        this.embeddings = new Embeddings(w, "text_model.embeddings", config);
        this.encoder = new Encoder(w, "text_model.encoder", config);
        this.finalLayerNorm = new LayerNorm(w, "text_model.final_layer_norm", config.hiddenSize(), config.layerNormEps());
        this.textProjection = config.projection() == null ? null
                : new Linear(w, "text_projection", config.hiddenSize(), config.projection().projectionDim(), false);
        this.layers = w.layersSince(before);
    }

    /**
     * Every {@code Linear} of the model by its weight name (Hugging Face names, e.g.
     * {@code text_model.encoder.layers.0.self_attn.q_proj.weight}): the layers a LoRA can change.
     */
    public Map<String, Patchable> layers() {
        return layers;
    }

    /**
     * Loads {@code config.json} and {@code model.safetensors} of a diffusers {@code text_encoder/}
     * folder. Every tensor in the file must be used (except the {@code position_ids} buffer).
     *
     * @param textEncoderDir the {@code text_encoder} folder
     * @param manager        long-lived manager that owns the (memory-mapped, read-only) weights
     * @return the model
     * @throws ModelLoadException on a missing/unsupported config, a missing, mis-shaped or unexpected
     *                            weight, or a file with only pickled weights
     */
    public static ClipTextModel load(Path textEncoderDir, NDManager manager) {
        return load(textEncoderDir, manager, ai.djl.ndarray.types.DataType.FLOAT32);
    }

    /** As {@link #load(Path, NDManager)}, the weights created as {@code floatType} on the manager's device. */
    public static ClipTextModel load(Path textEncoderDir, NDManager manager, ai.djl.ndarray.types.DataType floatType) {
        TextEncoderConfig config = Configs.read(textEncoderDir.resolve("config.json"), TextEncoderConfig.class);
        try (Weights w = Weights.open(textEncoderDir, manager, UnaryOperator.identity(), floatType)) {
            ClipTextModel model = new ClipTextModel(w, config);
            w.finish();
            return model;
        }
    }

    /** @return the configuration the model was built from */
    public TextEncoderConfig config() {
        return config;
    }

    /**
     * Runs the text encoder.
     *
     * @param inputIds [B, L] token ids (int64, L &lt;= max_position_embeddings, normally 77)
     * @return {@code last_hidden_state} [B, L, hidden] float32, attached to {@code inputIds}'s manager
     * @throws IllegalArgumentException if the input is not [B, L] with L within the position table
     */
    public NDArray forward(NDArray inputIds) {
        return forward(inputIds, null);
    }

    /**
     * Runs the text encoder and records the residual stream for debugging: {@code text_encoder.embeddings}
     * (token + position embedding) and {@code text_encoder.layers.N} (after layer N, before
     * {@code final_layer_norm}), each [B, L, hidden], attached to {@code inputIds}'s manager.
     *
     * @param inputIds      [B, L] token ids (int64)
     * @param intermediates map to record into, or null
     * @return {@code last_hidden_state} [B, L, hidden] float32, attached to {@code inputIds}'s manager
     */
    public NDArray forward(NDArray inputIds, Map<String, NDArray> intermediates) {
        return Profiler.time("text_encoder", () -> compute(inputIds, intermediates, 1));
    }

    /**
     * Runs the text encoder with "clip skip" as AUTOMATIC1111 applies it: the hidden state {@code clipSkip - 1}
     * layers before the last (Hugging Face {@code hidden_states[-clipSkip]}), then {@code final_layer_norm}.
     * {@code clipSkip = 1} is {@link #forward(NDArray)} exactly. The layers counted are those of the model as
     * shipped: an SD 2.x repo's encoder already ends at OpenCLIP's penultimate layer.
     *
     * @param inputIds [B, L] token ids (int64)
     * @param clipSkip 1 to {@code num_hidden_layers}
     * @return [B, L, hidden] float32, attached to {@code inputIds}'s manager
     * @throws IllegalArgumentException if clipSkip is out of range
     */
    public NDArray forward(NDArray inputIds, int clipSkip) {
        int layers = encoder.layers.size();
        if (clipSkip < 1 || clipSkip > layers) {
            throw new IllegalArgumentException("clip_skip: must be between 1 and " + layers
                    + " (the text encoder's layer count), got " + clipSkip);
        }
        return Profiler.time("text_encoder", () -> compute(inputIds, null, clipSkip));
    }

    private NDArray compute(NDArray inputIds, Map<String, NDArray> intermediates, int clipSkip) {
        return run(inputIds, intermediates, encoder.layers.size() - (clipSkip - 1),
                (hidden, ids, rec) -> new NDArray[] {finalLayerNorm.forward(hidden.get(hidden.size() - 1))})[0];
    }

    /**
     * SDXL's use of a text encoder (diffusers {@code StableDiffusionXLPipeline.encode_prompt} with
     * {@code output_hidden_states=True}, {@code clip_skip} None): {@code hidden_states[-2]}, the residual stream after
     * layer N - 1 of the N configured layers, without {@code final_layer_norm}; and for a model with a projection head
     * ({@code CLIPTextModelWithProjection}) the pooled, projected {@code text_embeds[b] = text_projection(
     * final_layer_norm(hidden_states[N])[b, e_b])} at the end-of-text position {@code e_b} ({@link #poolingPositions}).
     * Without a projection head the last layer is not run.
     *
     * @param inputIds      [B, L] token ids (int64)
     * @param intermediates map to record {@code text_encoder.embeddings}, {@code text_encoder.layers.N} and (pooled
     *                      models) {@code text_encoder.final_layer_norm} into, or null
     * @return the penultimate hidden state [B, L, hidden] and text_embeds [B, projection_dim] or null, on
     *         {@code inputIds}'s manager
     * @throws IllegalArgumentException if the input is not [B, L] with L within the position table
     */
    public SdxlOutput encodeSdxl(NDArray inputIds, Map<String, NDArray> intermediates) {
        int n = encoder.layers.size();
        boolean pooled = textProjection != null;
        NDArray[] out = Profiler.time("text_encoder", () -> run(inputIds, intermediates, pooled ? n : n - 1,
                (hidden, ids, rec) -> {
                    if (!pooled) {
                        return new NDArray[] {hidden.get(n - 1)};
                    }
                    NDArray last = finalLayerNorm.forward(hidden.get(n));
                    if (rec != null) {
                        rec.put("text_encoder.final_layer_norm", last);
                    }
                    return new NDArray[] {hidden.get(n - 1), textProjection.forward(pool(last, poolingPositions(ids)))};
                }));
        return new SdxlOutput(out[0], out.length > 1 ? out[1] : null);
    }

    /**
     * The pooling position of each row (transformers &gt;= 4.31 {@code CLIPTextTransformer.forward}): with the
     * config's {@code eos_token_id} 2 (the legacy default real configs carry) the first position of the largest id
     * ({@code argmax}), else the first position holding {@code eos_token_id}. For CLIP token rows both give the first
     * {@code <|endoftext|>}: 1 + the number of BPE tokens (76 when truncated), whether the pad id is 0 or the
     * end-of-text id itself.
     *
     * @param inputIds [B, L] token ids
     * @return B positions in [0, L)
     * @throws IllegalArgumentException for a model without a projection head, or a row without {@code eos_token_id}
     */
    public long[] poolingPositions(NDArray inputIds) {
        if (config.projection() == null) {
            throw new IllegalArgumentException("a CLIPTextModel has no pooled projection (no text_projection)");
        }
        long[] s = inputIds.getShape().getShape();
        long[] ids = inputIds.toType(DataType.INT64, false).toLongArray();
        int eos = config.projection().eosTokenId();
        long[] pos = new long[(int) s[0]];
        for (int b = 0; b < s[0]; b++) {
            int off = (int) (b * s[1]);
            int at = -1;
            for (int i = 0; i < s[1]; i++) {
                long id = ids[off + i];
                if (eos == 2 ? (at < 0 || id > ids[off + at]) : (id == eos && at < 0)) {
                    at = i;
                }
            }
            if (at < 0) {
                throw new IllegalArgumentException("input_ids row " + b + " holds no eos_token_id " + eos
                        + ": no position to pool the text embedding at");
            }
            pos[b] = at;
        }
        return pos;
    }

    /** Rows {@code x[b, positions[b], :]} of x [B, L, D] -> [B, D] on x's manager. */
    private static NDArray pool(NDArray x, long[] positions) {
        ai.djl.ndarray.NDList rows = new ai.djl.ndarray.NDList();
        for (int b = 0; b < positions.length; b++) {
            rows.add(x.get(new NDIndex("{}, {}, :", b, positions[b])));
        }
        return ai.djl.ndarray.NDArrays.stack(rows, 0);
    }

    /** What a forward returns, computed from the hidden states inside {@link #run}'s scope. */
    @FunctionalInterface
    private interface Head {
        /**
         * @param hidden   {@code hidden_states[0..layers]}
         * @param ids      the int64 ids
         * @param recorded where to record intermediates, or null
         */
        NDArray[] apply(List<NDArray> hidden, NDArray ids, Map<String, NDArray> recorded);
    }

    /**
     * Runs the embeddings and the first {@code layers} encoder layers in a scope, then {@code head} on
     * {@code hidden_states[0..layers]} (index 0 the embeddings) and the int64 ids; the head's results (nulls allowed)
     * and the recorded intermediates go to {@code inputIds}' manager, everything else is freed.
     */
    private NDArray[] run(NDArray inputIds, Map<String, NDArray> intermediates, int layers,
                          Head head) {
        Shape s = inputIds.getShape();
        if (s.dimension() != 2 || s.get(1) < 1 || s.get(1) > config.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("input_ids must be [batch, length <= " + config.maxPositionEmbeddings()
                    + "], got " + s);
        }
        NDManager out = inputIds.getManager();
        Map<String, NDArray> recorded = new LinkedHashMap<>();
        NDArray[] result;
        try (NDManager scope = out.newSubManager()) {
            NDArray ids;
            if (inputIds.getDataType() == DataType.INT64) {
                ids = inputIds;
                ids.tempAttach(scope); // back to the caller's manager when the scope closes
            } else {
                ids = inputIds.toType(DataType.INT64, false);
                ids.attach(scope);
            }
            NDArray x = embeddings.forward(ids);
            NDArray mask = causalMask(scope, (int) s.get(1));
            if (mask.getDataType() != x.getDataType()) {
                // half precision: -Float.MAX_VALUE becomes -inf, which softmax maps to 0 like the fp32 minimum
                mask = mask.toType(x.getDataType(), false);
            }
            if (intermediates != null) {
                recorded.put("text_encoder.embeddings", x);
            }
            List<NDArray> hidden = new ArrayList<>();
            hidden.add(x);
            for (int i = 0; i < layers; i++) {
                x = encoder.layers.get(i).forward(x, mask);
                hidden.add(x);
                if (intermediates != null) {
                    recorded.put("text_encoder.layers." + i, x);
                }
            }
            result = head.apply(hidden, ids, intermediates != null ? recorded : null);
            for (NDArray r : result) {
                if (r != null) {
                    r.attach(out);
                }
            }
            for (NDArray r : recorded.values()) {
                r.attach(out);
            }
        }
        if (intermediates != null) {
            intermediates.putAll(recorded);
        }
        return result;
    }

    /** [L, L] additive causal mask: 0 where key j &lt;= query i, float32 min above the diagonal. */
    private static NDArray causalMask(NDManager manager, int len) {
        float[] m = new float[len * len];
        for (int i = 0; i < len; i++) {
            for (int j = i + 1; j < len; j++) {
                m[i * len + j] = -Float.MAX_VALUE;
            }
        }
        return manager.create(m, new Shape(len, len));
    }
}
