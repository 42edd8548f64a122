package dev.tenstep.model.nn;

import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;

/**
 * {@code y = x W^T + b} over the last axis: x [..., in] -> [..., out]. Weights {@code prefix.weight} [out, in],
 * {@code prefix.bias} [out]. The weight can be patched (a LoRA merged into it, {@link Patchable}); the store learns
 * the layer under its weight name ({@link Weights#register}).
 */
public final class Linear implements Patchable {
    /** The weight as loaded, [out, in]; never changed (see {@link #currentWeight()}). */
    public final NDArray weight;
    public final NDArray bias;
    /** The merged weight forward uses instead of {@link #weight}, or null. */
    private volatile NDArray patch;

    public Linear(Weights w, String prefix, long in, long out, boolean hasBias) {
        this.weight = w.take(prefix + ".weight", out, in);
        this.bias = hasBias ? w.take(prefix + ".bias", out) : null;
        w.register(prefix + ".weight", this);
    }

    /** x: [..., in] -> [..., out]; the result belongs to x's manager. */
    public NDArray forward(NDArray x) {
        NDArray wt = currentWeight();
        return Profiler.time("linear", () -> ai.djl.nn.core.Linear.linear(x, wt, bias).singletonOrThrow());
    }

    @Override
    public NDArray baseWeight() {
        return weight;
    }

    @Override
    public NDArray currentWeight() {
        NDArray p = patch;
        return p != null ? p : weight;
    }

    @Override
    public void setPatch(NDArray w) {
        Patchable.checkPatch(weight, w, "Linear " + weight.getName());
        patch = w;
    }
}
