package dev.tenstep.model.vae;

import ai.djl.ndarray.NDArray;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.model.Weights;

/**
 * Linear map over channels {@code y = x W^T + b}, x [..., C] -> [..., C], for the VAE attention
 * projections. Accepts the weight stored as a linear [C, C] or, as in some very old checkpoints,
 * as a 1x1 convolution [C, C, 1, 1] (reshaped to [C, C], a view).
 */
final class Projection {
    final NDArray weight;
    final NDArray bias;

    Projection(Weights w, String prefix, long channels) {
        String name = prefix + ".weight";
        boolean convShaped = isConvShaped(w, name) || isConvShaped(w, VaeNames.toLegacy(name));
        this.weight = convShaped
                ? w.take(name, channels, channels, 1, 1).reshape(channels, channels)
                : w.take(name, channels, channels);
        this.bias = w.take(prefix + ".bias", channels);
    }

    private static boolean isConvShaped(Weights w, String fileName) {
        SafeTensors.TensorInfo info = w.tensors().get(fileName);
        return info != null && info.shape().length == 4;
    }

    NDArray forward(NDArray x) {
        return ai.djl.nn.core.Linear.linear(x, weight, bias).singletonOrThrow();
    }
}
