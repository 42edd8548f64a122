package dev.tenstep.model.vae;

import dev.tenstep.model.blocks.ResnetBlock2D;
import dev.tenstep.model.nn.Scope;
import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;

/**
 * VAE mid block (diffusers {@code unet_2d_blocks.py UNetMidBlock2D}, one attention layer,
 * no time embedding): {@code resnets.1(attentions.0(resnets.0(x)))}. x: [N, C, H, W] -> same.
 */
final class UNetMidBlock2D {
    final ResnetBlock2D[] resnets;
    final VaeAttention[] attentions;

    UNetMidBlock2D(Weights w, String prefix, long channels, int groups, double eps) {
        this.resnets = new ResnetBlock2D[] {
                new ResnetBlock2D(w, prefix + ".resnets.0", channels, channels, 0, groups, eps),
                new ResnetBlock2D(w, prefix + ".resnets.1", channels, channels, 0, groups, eps)};
        this.attentions = new VaeAttention[] {new VaeAttention(w, prefix + ".attentions.0", channels, groups, eps)};
    }

    NDArray forward(NDArray x) {
        return Scope.run(x, in -> resnets[1].forward(attentions[0].forward(resnets[0].forward(in))));
    }
}
