package dev.tenstep.model.nn;

import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;

/**
 * {@code y = x W^T + b} over the last axis: x [..., in] -> [..., out]. Weights {@code prefix.weight} [out, in],
 * {@code prefix.bias} [out]. The weight can be patched (a LoRA merged into it, {@link Patchable}); the store learns
 * the layer under its weight name ({@link Weights#register}).
 */
public final class Linear extends PatchableLayer {
    public final NDArray bias;

    public Linear(Weights w, String prefix, long in, long out, boolean hasBias) {
        super(w.take(prefix + ".weight", out, in), "Linear");
        this.bias = hasBias ? w.take(prefix + ".bias", out) : null;
        w.register(prefix + ".weight", this);
    }

    /** x: [..., in] -> [..., out]; the result belongs to x's manager. */
    public NDArray forward(NDArray x) {
        NDArray wt = currentWeight();
        return Profiler.time("linear", () -> ai.djl.nn.core.Linear.linear(x, wt, bias).singletonOrThrow());
    }
}
