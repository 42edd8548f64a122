package dev.tenstep.model.blocks;

import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;
import dev.tenstep.model.nn.Conv2d;
import dev.tenstep.model.nn.GroupNorm;
import dev.tenstep.model.nn.Linear;
import dev.tenstep.model.nn.Ops;
import dev.tenstep.model.nn.Profiler;
import dev.tenstep.model.nn.Scope;

/**
 * diffusers {@code resnet.ResnetBlock2D} (time_embedding_norm "default", no dropout at inference,
 * output scale 1), shared by the UNet (with a time embedding) and the VAE (without):
 * {@code h = conv1(SiLU(norm1(x))) [+ time_emb_proj(SiLU(temb))[:, :, None, None]]};
 * {@code h = conv2(SiLU(norm2(h)))}; {@code out = shortcut(x) + h} with a 1x1 {@code conv_shortcut}
 * when the channel counts differ. x: [B, in, H, W] -> [B, out, H, W].
 */
public final class ResnetBlock2D {
    public final GroupNorm norm1;
    public final Conv2d conv1;
    /** null in the VAE (no time embedding). */
    public final Linear timeEmbProj;
    public final GroupNorm norm2;
    public final Conv2d conv2;
    /** null when {@code in == out}. */
    public final Conv2d convShortcut;
    private final long out;

    /**
     * @param tembChannels width of the time embedding, or 0 for a block without one (VAE)
     * @param eps          GroupNorm epsilon (UNet {@code norm_eps}, VAE 1e-6)
     */
    public ResnetBlock2D(Weights w, String prefix, long in, long out, long tembChannels, int groups, double eps) {
        this.norm1 = new GroupNorm(w, prefix + ".norm1", groups, in, eps);
        this.conv1 = new Conv2d(w, prefix + ".conv1", in, out, 3);
        this.timeEmbProj = tembChannels > 0 ? new Linear(w, prefix + ".time_emb_proj", tembChannels, out, true) : null;
        this.norm2 = new GroupNorm(w, prefix + ".norm2", groups, out, eps);
        this.conv2 = new Conv2d(w, prefix + ".conv2", out, out, 3);
        this.convShortcut = in != out ? new Conv2d(w, prefix + ".conv_shortcut", in, out, 1) : null;
        this.out = out;
    }

    /** Block without time embedding (VAE): [B, in, H, W] -> [B, out, H, W], attached to x's manager. */
    public NDArray forward(NDArray x) {
        return forward(x, null);
    }

    /**
     * @param x       [B, in, H, W]
     * @param tembAct SiLU of the time embedding, [B, tembChannels]; null for a block without one
     * @return [B, out, H, W], attached to x's manager
     */
    public NDArray forward(NDArray x, NDArray tembAct) {
        return Profiler.time("resnet", () -> {
            return Scope.run(x, in -> {
                NDArray h = conv1.forward(norm1.forwardSilu(in));
                if (timeEmbProj != null) {
                    h = Ops.addInPlace(h, timeEmbProj.forward(tembAct).reshape(tembAct.getShape().get(0), out, 1, 1));
                }
                h = conv2.forward(norm2.forwardSilu(h));
                return Ops.addInPlace(h, convShortcut != null ? convShortcut.forward(in) : in);
            });
        });
    }
}
