package dev.tenstep.model.unet;

import dev.tenstep.model.nn.Scope;
import dev.tenstep.model.nn.Profiler;
import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;
import dev.tenstep.model.config.UNetConfig;
import dev.tenstep.model.nn.Conv2d;
import dev.tenstep.model.nn.GroupNorm;
import dev.tenstep.model.nn.Linear;
import dev.tenstep.model.nn.Ops;

import java.util.List;

/**
 * diffusers {@code transformer_2d.Transformer2DModel} (continuous input): {@code norm} (GroupNorm,
 * eps 1e-6), {@code proj_in}, flatten to tokens, {@code transformer_blocks.0 .. depth-1} in sequence
 * (one in SD 1.x/2.x; SDXL's {@code transformer_layers_per_block} sets the depth per level), back
 * to NCHW, {@code proj_out}, plus the input.
 * {@code proj_in}/{@code proj_out} are 1x1 convolutions ([C, C, 1, 1]) or, with
 * {@code use_linear_projection}, linear layers ([C, C]) applied to the tokens.
 */
public final class Transformer2DModel {
    static final double NORM_EPS = 1e-6;

    public final GroupNorm norm;
    /**
     * {@code proj_in}: exactly one of {@code projInConv}/{@code projInLinear} is set, per
     * {@code use_linear_projection} (likewise {@code proj_out}).
     */
    public final Conv2d projInConv;
    public final Linear projInLinear;
    public final List<BasicTransformerBlock> transformerBlocks;
    public final Conv2d projOutConv;
    public final Linear projOutLinear;

    /**
     * @param config   the model's config ({@code norm_num_groups}, {@code use_linear_projection},
     *                 {@code cross_attention_dim}, {@code upcast_attention})
     * @param channels channels of the feature map
     * @param heads    attention heads
     * @param depth    transformer blocks ({@code transformer_layers_per_block} entry), &gt;= 1
     */
    public Transformer2DModel(Weights w, String prefix, UNetConfig config, long channels, long heads, int depth) {
        int groups = config.normNumGroups();
        boolean linearProjection = config.useLinearProjection();
        this.norm = new GroupNorm(w, prefix + ".norm", groups, channels, NORM_EPS);
        this.projInConv = linearProjection ? null : new Conv2d(w, prefix + ".proj_in", channels, channels, 1);
        this.projInLinear = linearProjection ? new Linear(w, prefix + ".proj_in", channels, channels, true) : null;
        java.util.List<BasicTransformerBlock> blocks = new java.util.ArrayList<>();
        for (int d = 0; d < depth; d++) {
            blocks.add(new BasicTransformerBlock(w, prefix + ".transformer_blocks." + d, config, channels, heads));
        }
        this.transformerBlocks = List.copyOf(blocks);
        this.projOutConv = linearProjection ? null : new Conv2d(w, prefix + ".proj_out", channels, channels, 1);
        this.projOutLinear = linearProjection ? new Linear(w, prefix + ".proj_out", channels, channels, true) : null;
    }

    /**
     * @param x       [B, C, H, W]
     * @param context [B, Lk, crossAttentionDim]
     * @return [B, C, H, W], attached to x's manager
     */
    public NDArray forward(NDArray x, NDArray context) {
        return Profiler.time("transformer", () -> compute(x, context));
    }

    private NDArray compute(NDArray x, NDArray context) {
        return Scope.run(x, in -> {
            long[] s = in.getShape().getShape();
            long b = s[0], c = s[1], hh = s[2], ww = s[3];
            NDArray h = norm.forward(in);
            if (projInConv != null) {
                h = projInConv.forward(h);
            }
            h = h.transpose(0, 2, 3, 1).reshape(b, hh * ww, c);
            if (projInLinear != null) {
                h = projInLinear.forward(h);
            }
            for (BasicTransformerBlock block : transformerBlocks) {
                h = block.forward(h, context);
            }
            if (projOutLinear != null) {
                h = projOutLinear.forward(h);
            }
            h = h.reshape(b, hh, ww, c).transpose(0, 3, 1, 2);
            if (projOutConv != null) {
                h = projOutConv.forward(h);
            }
            return Ops.addInPlace(h, in); // h is this block's fresh proj_out result
        });
    }
}
