package dev.tenstep.model.nn;

import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;

/** {@code y = x W^T + b} over the last axis: x [..., in] -> [..., out]. Weights {@code prefix.weight} [out, in], {@code prefix.bias} [out]. */
public final class Linear {
    public final NDArray weight;
    public final NDArray bias;

    public Linear(Weights w, String prefix, long in, long out, boolean hasBias) {
        this.weight = w.take(prefix + ".weight", out, in);
        this.bias = hasBias ? w.take(prefix + ".bias", out) : null;
    }

    /** x: [..., in] -> [..., out]; the result belongs to x's manager. */
    public NDArray forward(NDArray x) {
        return Profiler.time("linear", () -> ai.djl.nn.core.Linear.linear(x, weight, bias).singletonOrThrow());
    }
}
