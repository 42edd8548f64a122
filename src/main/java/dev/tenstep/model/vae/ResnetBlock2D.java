package dev.tenstep.model.vae;

import dev.tenstep.model.nn.Scope;
import dev.tenstep.model.nn.Profiler;
import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;
import dev.tenstep.model.nn.Conv2d;
import dev.tenstep.model.nn.GroupNorm;

/**
 * VAE residual block without time embedding (diffusers {@code resnet.py ResnetBlock2D},
 * {@code temb_channels=None}, {@code output_scale_factor=1}):
 * {@code out = shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x))))))}, where shortcut is the
 * 1x1 {@code conv_shortcut} when the channel count changes, otherwise the identity.
 * x: [N, in, H, W] -> [N, out, H, W].
 */
final class ResnetBlock2D {
    final GroupNorm norm1;
    final Conv2d conv1;
    final GroupNorm norm2;
    final Conv2d conv2;
    final Conv2d convShortcut;

    ResnetBlock2D(Weights w, String prefix, long in, long out, int groups, double eps) {
        this.norm1 = new GroupNorm(w, prefix + ".norm1", groups, in, eps);
        this.conv1 = new Conv2d(w, prefix + ".conv1", in, out, 3);
        this.norm2 = new GroupNorm(w, prefix + ".norm2", groups, out, eps);
        this.conv2 = new Conv2d(w, prefix + ".conv2", out, out, 3);
        this.convShortcut = in != out ? new Conv2d(w, prefix + ".conv_shortcut", in, out, 1) : null;
    }

    NDArray forward(NDArray x) {
        long t0 = Profiler.start("resnet");
        try {
            return compute(x);
        } finally {
            Profiler.stop(t0);
        }
    }

    private NDArray compute(NDArray x) {
        return Scope.run(x, in -> {
            NDArray h = conv1.forward(norm1.forwardSilu(in));
            h = conv2.forward(norm2.forwardSilu(h));
            NDArray skip = convShortcut != null ? convShortcut.forward(in) : in;
            return h.addi(skip);
        });
    }
}
