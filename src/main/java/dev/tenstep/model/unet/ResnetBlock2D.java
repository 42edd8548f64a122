package dev.tenstep.model.unet;

import dev.tenstep.model.nn.Scope;
import dev.tenstep.model.nn.Profiler;
import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;
import dev.tenstep.model.nn.Conv2d;
import dev.tenstep.model.nn.GroupNorm;
import dev.tenstep.model.nn.Linear;

/**
 * diffusers {@code resnet.ResnetBlock2D} (time_embedding_norm "default", no dropout at inference):
 * {@code h = conv1(SiLU(norm1(x))) + time_emb_proj(SiLU(temb))[:, :, None, None]};
 * {@code h = conv2(SiLU(norm2(h)))}; {@code out = shortcut(x) + h} with a 1x1 {@code conv_shortcut}
 * when the channel counts differ.
 */
public final class ResnetBlock2D {
    public final GroupNorm norm1;
    public final Conv2d conv1;
    public final Linear timeEmbProj;
    public final GroupNorm norm2;
    public final Conv2d conv2;
    /** null when {@code in == out}. */
    public final Conv2d convShortcut;
    private final long out;

    public ResnetBlock2D(Weights w, String prefix, long in, long out, long tembChannels, int groups, double eps) {
        this.norm1 = new GroupNorm(w, prefix + ".norm1", groups, in, eps);
        this.conv1 = new Conv2d(w, prefix + ".conv1", in, out, 3);
        this.timeEmbProj = new Linear(w, prefix + ".time_emb_proj", tembChannels, out, true);
        this.norm2 = new GroupNorm(w, prefix + ".norm2", groups, out, eps);
        this.conv2 = new Conv2d(w, prefix + ".conv2", out, out, 3);
        this.convShortcut = in != out ? new Conv2d(w, prefix + ".conv_shortcut", in, out, 1) : null;
        this.out = out;
    }

    /**
     * @param x       [B, in, H, W]
     * @param tembAct SiLU of the time embedding, [B, tembChannels]
     * @return [B, out, H, W], attached to x's manager
     */
    public NDArray forward(NDArray x, NDArray tembAct) {
        long t0 = Profiler.start("resnet");
        try {
            return compute(x, tembAct);
        } finally {
            Profiler.stop(t0);
        }
    }

    private NDArray compute(NDArray x, NDArray tembAct) {
        return Scope.run(x, in -> {
            NDArray h = conv1.forward(norm1.forwardSilu(in));
            NDArray t = timeEmbProj.forward(tembAct).reshape(tembAct.getShape().get(0), out, 1, 1);
            h.addi(t);
            h = conv2.forward(norm2.forwardSilu(h));
            return h.addi(convShortcut != null ? convShortcut.forward(in) : in);
        });
    }
}
