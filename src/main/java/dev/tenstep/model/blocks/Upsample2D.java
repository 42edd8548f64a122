package dev.tenstep.model.blocks;

import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;
import dev.tenstep.model.nn.Conv2d;
import dev.tenstep.model.nn.Ops;
import dev.tenstep.model.nn.Scope;
import dev.tenstep.model.nn.Profiler;

/** diffusers {@code resnet.Upsample2D} with {@code use_conv}: nearest x2, then 3x3 conv (padding 1). */
public final class Upsample2D {
    public final Conv2d conv;

    public Upsample2D(Weights w, String prefix, long channels) {
        this.conv = new Conv2d(w, prefix + ".conv", channels, channels, 3);
    }

    /** [B, C, H, W] -> [B, C, 2H, 2W]. */
    public NDArray forward(NDArray x) {
        return forward(x, null);
    }

    /**
     * Nearest interpolation to {@code size} = [H', W'] (torch {@code F.interpolate(size=..., mode="nearest")}:
     * source index {@code floor(i * H / H')}), then the conv; null or [2H, 2W] is the plain x2 path.
     */
    public NDArray forward(NDArray x, long[] size) {
        return Profiler.time("upsample", () -> {
            long[] s = x.getShape().getShape();
            if (size == null || (size[0] == 2 * s[2] && size[1] == 2 * s[3])) {
                return Scope.run(x, in -> conv.forward(Ops.upsampleNearest2x(in)));
            }
            return Scope.run(x, in -> conv.forward(Ops.resizeNearest(in, size[0], size[1])));
        });
    }
}
