package dev.tenstep.model.unet;

import dev.tenstep.model.nn.Profiler;
import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;
import dev.tenstep.model.nn.Linear;
import dev.tenstep.model.nn.Ops;

/**
 * Multi-head attention (diffusers {@code attention_processor.Attention} with the default processor,
 * as used by {@code attn1}/{@code attn2} of a transformer block): {@code to_q}, {@code to_k},
 * {@code to_v} without bias, {@code to_out.0} with bias, scale {@code headDim^-0.5}. Computed with
 * {@link Ops#attention} (query slicing bounded by the attention memory budget).
 */
public final class Attention {
    public final Linear toQ;
    public final Linear toK;
    public final Linear toV;
    /** {@code to_out.0} (index 1 of diffusers' {@code to_out} list is dropout). */
    public final Linear toOut;
    private final long heads;
    private final float scale;
    /** diffusers' {@code upcast_attention} (SD 2.1): scores and softmax in fp32 under half precision. */
    private final boolean upcast;

    /**
     * @param queryDim   channels of the query stream (= inner dim = heads * headDim)
     * @param contextDim channels of the key/value stream ({@code queryDim} for self-attention,
     *                   {@code cross_attention_dim} for cross-attention)
     */
    public Attention(Weights w, String prefix, long queryDim, long contextDim, long heads) {
        if (queryDim % heads != 0) {
            throw new IllegalArgumentException(prefix + ": " + queryDim + " channels not divisible by " + heads + " heads");
        }
        this.toQ = new Linear(w, prefix + ".to_q", queryDim, queryDim, false);
        this.toK = new Linear(w, prefix + ".to_k", contextDim, queryDim, false);
        this.toV = new Linear(w, prefix + ".to_v", contextDim, queryDim, false);
        this.toOut = new Linear(w, prefix + ".to_out.0", queryDim, queryDim, true);
        this.heads = heads;
        this.scale = (float) Math.pow(queryDim / heads, -0.5);
        this.upcast = w.upcastAttention();
    }

    /**
     * @param x       [B, L, queryDim]
     * @param context [B, Lk, contextDim], or null for self-attention
     * @return [B, L, queryDim], attached to x's manager
     */
    public NDArray forward(NDArray x, NDArray context) {
        return Profiler.time(context == null ? "attention.self" : "attention.cross", () -> compute(x, context));
    }

    private NDArray compute(NDArray x, NDArray context) {
        NDArray ctx = context == null ? x : context;
        NDArray q = Ops.splitHeads(toQ.forward(x), heads);
        NDArray k = Ops.splitHeads(toK.forward(ctx), heads);
        NDArray v = Ops.splitHeads(toV.forward(ctx), heads);
        NDArray o = Ops.attention(q, k, v, scale, null, upcast);
        return toOut.forward(Ops.mergeHeads(o, heads));
    }
}
