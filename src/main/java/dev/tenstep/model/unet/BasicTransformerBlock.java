package dev.tenstep.model.unet;

import dev.tenstep.model.nn.Scope;
import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;
import dev.tenstep.model.config.UNetConfig;
import dev.tenstep.model.nn.LayerNorm;
import dev.tenstep.model.nn.Ops;

/**
 * diffusers {@code attention.BasicTransformerBlock} (layer_norm, SD 1.x/2.x):
 * {@code x += attn1(norm1(x))} (self), {@code x += attn2(norm2(x), context)} (cross),
 * {@code x += ff(norm3(x))}. LayerNorm eps 1e-5.
 */
public final class BasicTransformerBlock {
    static final double LAYER_NORM_EPS = 1e-5;

    public final LayerNorm norm1;
    public final Attention attn1;
    public final LayerNorm norm2;
    public final Attention attn2;
    public final LayerNorm norm3;
    public final FeedForward ff;

    /**
     * @param config the model's config ({@code cross_attention_dim}, {@code upcast_attention})
     * @param dim    channels of the token stream
     * @param heads  attention heads
     */
    public BasicTransformerBlock(Weights w, String prefix, UNetConfig config, long dim, long heads) {
        this.norm1 = new LayerNorm(w, prefix + ".norm1", dim, LAYER_NORM_EPS);
        this.attn1 = new Attention(w, prefix + ".attn1", config, dim, dim, heads);
        this.norm2 = new LayerNorm(w, prefix + ".norm2", dim, LAYER_NORM_EPS);
        this.attn2 = new Attention(w, prefix + ".attn2", config, dim, config.crossAttentionDim(), heads);
        this.norm3 = new LayerNorm(w, prefix + ".norm3", dim, LAYER_NORM_EPS);
        this.ff = new FeedForward(w, prefix + ".ff", dim);
    }

    /**
     * @param x       tokens [B, L, dim]
     * @param context [B, Lk, crossAttentionDim]
     * @return [B, L, dim], attached to x's manager
     */
    public NDArray forward(NDArray x, NDArray context) {
        return Scope.run(x, in -> {
            NDArray h = Ops.addInPlace(attn1.forward(norm1.forward(in), null), in);
            h = Ops.addInPlace(h, attn2.forward(norm2.forward(h), context));
            return Ops.addInPlace(h, ff.forward(norm3.forward(h)));
        });
    }
}
