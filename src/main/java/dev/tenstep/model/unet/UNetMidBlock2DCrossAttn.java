package dev.tenstep.model.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.model.Weights;
import dev.tenstep.model.config.UNetConfig;

/** diffusers {@code unet_2d_blocks.UNetMidBlock2DCrossAttn}: {@code resnets.0}, {@code attentions.0}, {@code resnets.1}. */
public final class UNetMidBlock2DCrossAttn {
    public final ResnetBlock2D resnet0;
    public final Transformer2DModel attention0;
    public final ResnetBlock2D resnet1;

    public UNetMidBlock2DCrossAttn(Weights w, String prefix, UNetConfig c, long channels, long heads, long tembChannels) {
        this.resnet0 = new ResnetBlock2D(w, prefix + ".resnets.0", channels, channels, tembChannels, c.normNumGroups(), c.normEps());
        this.attention0 = new Transformer2DModel(w, prefix + ".attentions.0", channels, heads, c.crossAttentionDim(),
                c.normNumGroups(), c.useLinearProjection());
        this.resnet1 = new ResnetBlock2D(w, prefix + ".resnets.1", channels, channels, tembChannels, c.normNumGroups(), c.normEps());
    }

    /** [B, C, H, W] -> [B, C, H, W], attached to x's manager. */
    public NDArray forward(NDArray x, NDArray tembAct, NDArray context) {
        NDManager parent = x.getManager();
        try (NDManager sub = parent.newSubManager()) {
            x.tempAttach(sub);
            NDArray h = resnet0.forward(x, tembAct);
            h = attention0.forward(h, context);
            h = resnet1.forward(h, tembAct);
            h.attach(parent);
            return h;
        }
    }
}
