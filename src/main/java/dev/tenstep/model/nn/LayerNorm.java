package dev.tenstep.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.model.Weights;

/** LayerNorm over the last axis (torch.nn.LayerNorm). Weights {@code prefix.weight}, {@code prefix.bias} [dim]. */
public final class LayerNorm {
    public final NDArray weight;
    public final NDArray bias;
    private final Shape normalizedShape;
    private final float eps;

    public LayerNorm(Weights w, String prefix, long dim, double eps) {
        this.weight = w.take(prefix + ".weight", dim);
        this.bias = w.take(prefix + ".bias", dim);
        this.normalizedShape = new Shape(dim);
        this.eps = (float) eps;
    }

    /** x: [..., dim] -> same shape; the result belongs to x's manager. */
    public NDArray forward(NDArray x) {
        return Profiler.time("layernorm", () -> ai.djl.nn.norm.LayerNorm.layerNorm(x, normalizedShape, weight, bias, eps).singletonOrThrow());
    }
}
