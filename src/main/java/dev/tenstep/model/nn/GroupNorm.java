package dev.tenstep.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.model.Weights;

/**
 * GroupNorm (Wu and He 2018; torch.nn.GroupNorm): per sample, channels split into {@code groups}
 * groups, each normalised over (channels of the group x H x W) with the biased variance, then a
 * per-channel affine. DJL has no GroupNorm op, so it is composed from reductions.
 * Weights {@code prefix.weight}, {@code prefix.bias} [C].
 */
public final class GroupNorm {
    public final NDArray weight;
    public final NDArray bias;
    private final int groups;
    private final float eps;
    private final long channels;

    public GroupNorm(Weights w, String prefix, int groups, long channels, double eps) {
        if (channels % groups != 0) {
            throw new IllegalArgumentException(prefix + ": " + channels + " channels not divisible by " + groups + " groups");
        }
        this.weight = w.take(prefix + ".weight", channels).reshape(1, channels, 1, 1);
        this.bias = w.take(prefix + ".bias", channels).reshape(1, channels, 1, 1);
        this.groups = groups;
        this.eps = (float) eps;
        this.channels = channels;
    }

    /** x: [N, C, H, W] (or [N, C, L]) -> same shape; the result belongs to x's manager. */
    public NDArray forward(NDArray x) {
        long t = Profiler.start("groupnorm");
        try {
            return compute(x);
        } finally {
            Profiler.stop(t);
        }
    }

    private NDArray compute(NDArray x) {
        Shape shape = x.getShape();
        long n = shape.get(0);
        NDArray g = x.reshape(n, groups, -1);
        NDArray mean = g.mean(new int[] {2}, true);
        NDArray centered = g.sub(mean);
        NDArray var = centered.square().mean(new int[] {2}, true);
        NDArray normed = centered.div(var.add(eps).sqrt());
        long[] s4 = shape.dimension() == 4 ? shape.getShape() : new long[] {n, channels, -1, 1};
        return normed.reshape(s4).mul(weight).add(bias).reshape(shape);
    }

    /** Fused GroupNorm followed by SiLU, the pattern of every resnet block. */
    public NDArray forwardSilu(NDArray x) {
        NDArray y = forward(x);
        return Ops.silu(y);
    }
}
