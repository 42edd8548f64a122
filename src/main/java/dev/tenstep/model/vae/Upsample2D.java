package dev.tenstep.model.vae;

import dev.tenstep.model.nn.Scope;
import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;
import dev.tenstep.model.nn.Conv2d;
import dev.tenstep.model.nn.Ops;

/**
 * VAE decoder upsampler (diffusers {@code resnet.py Upsample2D}, {@code use_conv=True}): nearest
 * x2, then 3x3 convolution. x: [N, C, H, W] -> [N, C, 2H, 2W].
 */
final class Upsample2D {
    final Conv2d conv;

    Upsample2D(Weights w, String prefix, long channels) {
        this.conv = new Conv2d(w, prefix + ".conv", channels, channels, 3);
    }

    NDArray forward(NDArray x) {
        return Scope.run(x, in -> conv.forward(Ops.upsampleNearest2x(in)));
    }
}
