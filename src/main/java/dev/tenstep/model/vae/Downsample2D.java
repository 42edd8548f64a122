package dev.tenstep.model.vae;

import dev.tenstep.model.nn.Scope;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.model.Weights;
import dev.tenstep.model.nn.Conv2d;

/**
 * VAE encoder downsampler (diffusers {@code resnet.py Downsample2D}, {@code padding=0}): zero-pad
 * right and bottom by one pixel, then 3x3 convolution with stride 2 and no padding.
 * x: [N, C, H, W] (H, W even) -> [N, C, H/2, W/2].
 */
final class Downsample2D {
    private static final Shape PAD_RIGHT_BOTTOM = new Shape(0, 1, 0, 1);
    final Conv2d conv;

    Downsample2D(Weights w, String prefix, long channels) {
        this.conv = new Conv2d(w, prefix + ".conv", channels, channels, 3, 2, 0);
    }

    NDArray forward(NDArray x) {
        return Scope.run(x, in -> conv.forward(in.pad(PAD_RIGHT_BOTTOM, 0)));
    }
}
