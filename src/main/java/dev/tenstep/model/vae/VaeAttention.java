package dev.tenstep.model.vae;

import dev.tenstep.model.nn.Scope;
import dev.tenstep.model.nn.Profiler;
import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;
import dev.tenstep.model.nn.GroupNorm;
import dev.tenstep.model.nn.Ops;

/**
 * Single-head self-attention over all pixels of the VAE mid block (diffusers
 * {@code attention_processor.py Attention} with {@code AttnProcessor}, heads 1, dim_head C,
 * {@code residual_connection=True}): {@code x + to_out.0(attn(to_q(n), to_k(n), to_v(n)))} with
 * {@code n = group_norm(x)} as H*W tokens of C channels, scale C^-0.5. {@link Ops#attention} runs
 * libtorch's fused tiled kernel (the [HW, HW] score matrix is never materialised) or slices the
 * query rows so that the score matrix stays within the memory budget.
 * x: [N, C, H, W] -> [N, C, H, W]. Weight names are the current ones; legacy files are mapped by
 * {@link VaeNames#toCurrent}.
 */
final class VaeAttention {
    final GroupNorm groupNorm;
    final Projection toQ;
    final Projection toK;
    final Projection toV;
    final Projection toOut0;
    private final long channels;

    VaeAttention(Weights w, String prefix, long channels, int groups, double eps) {
        this.groupNorm = new GroupNorm(w, prefix + ".group_norm", groups, channels, eps);
        this.toQ = new Projection(w, prefix + ".to_q", channels);
        this.toK = new Projection(w, prefix + ".to_k", channels);
        this.toV = new Projection(w, prefix + ".to_v", channels);
        this.toOut0 = new Projection(w, prefix + ".to_out.0", channels);
        this.channels = channels;
    }

    NDArray forward(NDArray x) {
        return Profiler.time("attention", () -> compute(x));
    }

    private NDArray compute(NDArray x) {
        return Scope.run(x, in -> {
            long[] s = in.getShape().getShape();
            long n = s[0];
            long hw = s[2] * s[3];
            NDArray tokens = groupNorm.forward(in).reshape(n, channels, hw).transpose(0, 2, 1);
            NDArray q = toQ.forward(tokens);
            NDArray k = toK.forward(tokens);
            NDArray v = toV.forward(tokens);
            float scale = (float) (1.0 / Math.sqrt(channels));
            NDArray a = Ops.attention(q, k, v, scale, null);
            NDArray out = toOut0.forward(a).transpose(0, 2, 1).reshape(s);
            return Ops.addInPlace(out, in);
        });
    }
}
