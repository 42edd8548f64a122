package dev.tenstep.model.unet;

import dev.tenstep.model.nn.Profiler;
import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;
import dev.tenstep.model.config.UNetConfig;
import dev.tenstep.model.nn.Linear;
import dev.tenstep.model.nn.Ops;

/**
 * Multi-head attention (diffusers {@code attention_processor.Attention} with the default processor,
 * as used by {@code attn1}/{@code attn2} of a transformer block): {@code to_q}, {@code to_k},
 * {@code to_v} without bias, {@code to_out.0} with bias, scale {@code headDim^-0.5}. Computed with
 * {@link Ops#attentionHeads} on [B, H, L, d] views of the projections: libtorch's fused tiled
 * kernel by default, or query slices bounded by the attention memory budget.
 */
public final class Attention {
    public final Linear toQ;
    public final Linear toK;
    public final Linear toV;
    /** {@code to_out.0} (index 1 of diffusers' {@code to_out} list is dropout). */
    public final Linear toOut;
    private final long heads;
    private final float scale;
    /** diffusers' {@code upcast_attention} (SD 2.1): fp32 scores and softmax under half precision (sliced path). */
    private final boolean upcast;

    /**
     * @param config     the model's config: {@code upcast_attention} (fp32 scores and softmax under half precision)
     * @param queryDim   channels of the query stream (= inner dim = heads * headDim)
     * @param contextDim channels of the key/value stream ({@code queryDim} for self-attention,
     *                   {@code cross_attention_dim} for cross-attention)
     */
    public Attention(Weights w, String prefix, UNetConfig config, long queryDim, long contextDim, long heads) {
        if (queryDim % heads != 0) {
            throw new IllegalArgumentException(prefix + ": " + queryDim + " channels not divisible by " + heads + " heads");
        }
        this.toQ = new Linear(w, prefix + ".to_q", queryDim, queryDim, false);
        this.toK = new Linear(w, prefix + ".to_k", contextDim, queryDim, false);
        this.toV = new Linear(w, prefix + ".to_v", contextDim, queryDim, false);
        this.toOut = new Linear(w, prefix + ".to_out.0", queryDim, queryDim, true);
        this.heads = heads;
        this.scale = (float) Math.pow(queryDim / heads, -0.5);
        this.upcast = config.upcastAttention();
    }

    /** Whether scores and softmax are computed in fp32 under half precision (the config's {@code upcast_attention}). */
    public boolean upcastAttention() {
        return upcast;
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
        NDArray q = headsView(toQ.forward(x));
        NDArray k = headsView(toK.forward(ctx));
        NDArray v = headsView(toV.forward(ctx));
        NDArray o = Ops.attentionHeads(q, k, v, scale, upcast);
        // [B, H, L, d] -> [B, L, H*d]; no copy when the kernel wrote o as [B, L, H, d] (libtorch's CPU flash kernel does)
        long[] s = o.getShape().getShape();
        return toOut.forward(o.transpose(0, 2, 1, 3).reshape(s[0], s[2], s[1] * s[3]));
    }

    /** [B, L, H*d] -> [B, H, L, d] as a view (the head split costs no copy). */
    private NDArray headsView(NDArray x) {
        long[] s = x.getShape().getShape();
        return x.reshape(s[0], s[1], heads, s[2] / heads).transpose(0, 2, 1, 3);
    }
}
