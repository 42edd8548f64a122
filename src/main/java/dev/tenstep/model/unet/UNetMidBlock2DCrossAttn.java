package dev.tenstep.model.unet;

import dev.tenstep.model.blocks.ResnetBlock2D;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.model.Weights;
import dev.tenstep.model.config.UNetConfig;

import java.util.List;

/** diffusers {@code unet_2d_blocks.UNetMidBlock2DCrossAttn}: {@code resnets.0}, {@code attentions.0}, {@code resnets.1}. */
public final class UNetMidBlock2DCrossAttn {
    /** {@code resnets.0}, {@code resnets.1} */
    public final List<ResnetBlock2D> resnets;
    /** {@code attentions.0} */
    public final List<Transformer2DModel> attentions;

    /** @param depth transformer blocks of {@code attentions.0} (the last {@code transformer_layers_per_block} entry) */
    public UNetMidBlock2DCrossAttn(Weights w, String prefix, UNetConfig c, long channels, long heads, int depth,
                                   long tembChannels) {
        ResnetBlock2D r0 = new ResnetBlock2D(w, prefix + ".resnets.0", channels, channels, tembChannels, c.normNumGroups(), c.normEps());
        Transformer2DModel a0 = new Transformer2DModel(w, prefix + ".attentions.0", c, channels, heads, depth);
        ResnetBlock2D r1 = new ResnetBlock2D(w, prefix + ".resnets.1", channels, channels, tembChannels, c.normNumGroups(), c.normEps());
        this.resnets = List.of(r0, r1);
        this.attentions = List.of(a0);
    }

    /** [B, C, H, W] -> [B, C, H, W], attached to x's manager. */
    public NDArray forward(NDArray x, NDArray tembAct, NDArray context) {
        return forward(x, tembAct, context, null);
    }

    /** As {@link #forward(NDArray, NDArray, NDArray)}, passing the transformer's output to {@code hook} as {@code attentions.0}. */
    public NDArray forward(NDArray x, NDArray tembAct, NDArray context, java.util.function.BiConsumer<String, NDArray> hook) {
        NDManager parent = x.getManager();
        try (NDManager sub = parent.newSubManager()) {
            x.tempAttach(sub);
            NDArray h = resnets.get(0).forward(x, tembAct);
            h = attentions.get(0).forward(h, context);
            if (hook != null) {
                hook.accept("attentions.0", h);
            }
            h = resnets.get(1).forward(h, tembAct);
            h.attach(parent);
            return h;
        }
    }
}
