package dev.tenstep.model.unet;

import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;
import dev.tenstep.model.nn.Conv2d;
import dev.tenstep.model.nn.Ops;

/** diffusers {@code resnet.Upsample2D} with {@code use_conv}: nearest x2, then 3x3 conv (padding 1). */
public final class Upsample2D {
    public final Conv2d conv;

    public Upsample2D(Weights w, String prefix, long channels) {
        this.conv = new Conv2d(w, prefix + ".conv", channels, channels, 3);
    }

    /** [B, C, H, W] -> [B, C, 2H, 2W]. */
    public NDArray forward(NDArray x) {
        long t0 = dev.tenstep.model.nn.Profiler.start("upsample");
        try {
            return Scope.run(x, in -> conv.forward(Ops.upsampleNearest2x(in)));
        } finally {
            dev.tenstep.model.nn.Profiler.stop(t0);
        }
    }
}
