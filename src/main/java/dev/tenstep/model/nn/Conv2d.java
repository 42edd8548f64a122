package dev.tenstep.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.model.Weights;

/**
 * 2-D convolution, NCHW. Weights {@code prefix.weight} [out, in, k, k], {@code prefix.bias} [out]. The weight can be
 * patched (a LoRA merged into it, {@link Patchable}); the store learns the layer under its weight name
 * ({@link Weights#register}).
 */
public final class Conv2d extends PatchableLayer {
    public final NDArray bias;
    private final Shape stride;
    private final Shape padding;

    public Conv2d(Weights w, String prefix, long in, long out, int kernel, int stride, int padding) {
        super(w.take(prefix + ".weight", out, in, kernel, kernel), "Conv2d");
        this.bias = w.take(prefix + ".bias", out);
        this.stride = new Shape(stride, stride);
        this.padding = new Shape(padding, padding);
        w.register(prefix + ".weight", this);
    }

    /** Same-size 3x3 (padding 1) or 1x1 convolution with stride 1. */
    public Conv2d(Weights w, String prefix, long in, long out, int kernel) {
        this(w, prefix, in, out, kernel, 1, kernel / 2);
    }

    /** x: [N, in, H, W] -> [N, out, H', W']; the result belongs to x's manager. */
    public NDArray forward(NDArray x) {
        NDArray wt = currentWeight();
        return Profiler.time("conv", () -> ai.djl.nn.convolutional.Conv2d.conv2d(x, wt, bias, stride, padding, new Shape(1, 1), 1).singletonOrThrow());
    }
}
