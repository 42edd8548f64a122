package dev.tenstep.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.model.Weights;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * GroupNorm (Wu and He 2018; torch.nn.GroupNorm): per sample, channels split into {@code groups}
 * groups, each normalised over (channels of the group x H x W) with the biased variance, then a
 * per-channel affine. DJL has no GroupNorm op: it runs as torch's fused layer_norm over
 * [N, G, C/G * H * W] followed by the affine in place.
 * Weights {@code prefix.weight}, {@code prefix.bias} [C].
 */
public final class GroupNorm {
    public final NDArray weight;
    public final NDArray bias;
    /**
     * The stored [C] tensors: {@link #weight} and {@link #bias} are [1, C, 1, 1] views of them made
     * at construction, outside autograd, so they carry no gradient path; while autograd is
     * {@link Ops#recording()} the affine reshapes these instead, so that training reaches them.
     */
    private final NDArray weightParam;
    private final NDArray biasParam;
    private final int groups;
    private final float eps;
    private final long channels;

    public GroupNorm(Weights w, String prefix, int groups, long channels, double eps) {
        if (channels % groups != 0) {
            throw new IllegalArgumentException(prefix + ": " + channels + " channels not divisible by " + groups + " groups");
        }
        this.weightParam = w.take(prefix + ".weight", channels);
        this.biasParam = w.take(prefix + ".bias", channels);
        this.weight = weightParam.reshape(1, channels, 1, 1);
        this.bias = biasParam.reshape(1, channels, 1, 1);
        this.groups = groups;
        this.eps = (float) eps;
        this.channels = channels;
    }

    /** x: [N, C, H, W] (or [N, C, L]) -> same shape; the result belongs to x's manager. */
    public NDArray forward(NDArray x) {
        return Profiler.time("groupnorm", () -> compute(x));
    }

    private NDArray compute(NDArray x) {
        Shape shape = x.getShape();
        long n = shape.get(0);
        long perGroup = shape.size() / (n * groups);
        // GroupNorm = LayerNorm over each (sample, group) row of [N, G, C/G * H * W]: one fused torch
        // kernel (mean, biased variance, normalise) instead of five full-size element-wise passes
        NDArray normed = ai.djl.nn.norm.LayerNorm.layerNorm(x.reshape(n, groups, perGroup), new Shape(perGroup),
                ones(perGroup, x), zeros(perGroup, x), eps).singletonOrThrow();
        long[] s4 = shape.dimension() == 4 ? shape.getShape() : new long[] {n, channels, -1, 1};
        // per-channel affine in place on the fresh result (never on the weights); out of place while training
        NDArray y;
        if (Ops.recording()) {
            y = normed.reshape(s4).mul(weightParam.reshape(1, channels, 1, 1)).add(biasParam.reshape(1, channels, 1, 1));
        } else {
            y = normed.reshape(s4);
            y.muli(weight).addi(bias);
        }
        return shape.dimension() == 4 ? y : y.reshape(shape);
    }

    private static final NDManager CONSTANTS = NDManager.newBaseManager();
    /** Identity affines by (length, device, dtype): torch needs them on the input's device and in its dtype. */
    private static final Map<String, NDArray[]> UNIT_AFFINE = new ConcurrentHashMap<>();

    /** Identity affine of length {@code len} (ones, zeros) on {@code like}'s device in its dtype, shared and never modified. */
    private static NDArray[] unit(long len, NDArray like) {
        ai.djl.Device device = like.getDevice();
        ai.djl.ndarray.types.DataType type = like.getDataType();
        return UNIT_AFFINE.computeIfAbsent(len + "/" + device + "/" + type, k -> {
            synchronized (CONSTANTS) {
                NDArray ones = CONSTANTS.ones(new Shape(len));
                NDArray zeros = CONSTANTS.zeros(new Shape(len));
                if (!device.equals(CONSTANTS.getDevice()) || type != ones.getDataType()) {
                    // arrays moved by toDevice stay attached to CONSTANTS, so they live as long as the cache
                    ones = ones.toDevice(device, false).toType(type, false);
                    zeros = zeros.toDevice(device, false).toType(type, false);
                }
                return new NDArray[] {ones, zeros};
            }
        });
    }

    private static NDArray ones(long len, NDArray like) {
        return unit(len, like)[0];
    }

    private static NDArray zeros(long len, NDArray like) {
        return unit(len, like)[1];
    }

    /** Fused GroupNorm followed by SiLU, the pattern of every resnet block. */
    public NDArray forwardSilu(NDArray x) {
        return Ops.siluInPlace(forward(x));
    }
}
