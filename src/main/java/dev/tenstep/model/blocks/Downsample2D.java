package dev.tenstep.model.blocks;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.model.Weights;
import dev.tenstep.model.nn.Conv2d;
import dev.tenstep.model.nn.Scope;

/**
 * diffusers {@code resnet.Downsample2D} with {@code use_conv}: 3x3 convolution with stride 2. With
 * {@code padding} 1 (UNet {@code downsample_padding}) the conv pads all sides; with padding 0 (the
 * VAE encoder) the input is zero-padded right and bottom by one pixel first, as diffusers does.
 * x: [B, C, H, W] -> [B, C, ceil(H/2), ceil(W/2)] (padding 1) or [B, C, H/2, W/2] (padding 0, H, W even).
 */
public final class Downsample2D {
    private static final Shape PAD_RIGHT_BOTTOM = new Shape(0, 1, 0, 1);
    public final Conv2d conv;
    private final int padding;

    public Downsample2D(Weights w, String prefix, long channels, int padding) {
        this.conv = new Conv2d(w, prefix + ".conv", channels, channels, 3, 2, padding);
        this.padding = padding;
    }

    /** Result attached to x's manager. */
    public NDArray forward(NDArray x) {
        if (padding != 0) {
            return conv.forward(x);
        }
        return Scope.run(x, in -> conv.forward(in.pad(PAD_RIGHT_BOTTOM, 0)));
    }
}
