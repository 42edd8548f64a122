package dev.tenstep.model.unet;

import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;
import dev.tenstep.model.nn.Conv2d;

/** diffusers {@code resnet.Downsample2D} with {@code use_conv}: 3x3 conv, stride 2, padding {@code downsample_padding}. */
public final class Downsample2D {
    public final Conv2d conv;

    public Downsample2D(Weights w, String prefix, long channels, int padding) {
        this.conv = new Conv2d(w, prefix + ".conv", channels, channels, 3, 2, padding);
    }

    /** [B, C, H, W] -> [B, C, H/2, W/2]. */
    public NDArray forward(NDArray x) {
        return conv.forward(x);
    }
}
