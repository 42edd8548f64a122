package dev.tenstep.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;

/** Activations and attention shared by CLIP, the UNet and the VAE. */
public final class Ops {
    private Ops() {
    }

    /** SiLU {@code x * sigmoid(x)}. */
    public static NDArray silu(NDArray x) {
        return Profiler.time("silu", () -> x.mul(x.getNDArrayInternal().sigmoid()));
    }

    /** SiLU computed in place in {@code owned}, which must be a fresh intermediate of the caller (never a weight). */
    public static NDArray siluInPlace(NDArray owned) {
        return Profiler.time("silu", () -> {
            NDArray s = owned.getNDArrayInternal().sigmoid();
            owned.muli(s);
            s.close();
            return owned;
        });
    }

    /** Exact (erf) GELU, torch's default. */
    public static NDArray gelu(NDArray x) {
        return ai.djl.nn.Activation.gelu(x);
    }

    /** CLIP's {@code quick_gelu}: {@code x * sigmoid(1.702 x)}. */
    public static NDArray quickGelu(NDArray x) {
        return x.mul(x.mul(1.702f).getNDArrayInternal().sigmoid());
    }

    /** Nearest-neighbour x2 upsampling (diffusers {@code Upsample2D}, {@code F.interpolate(scale_factor=2, mode="nearest")}): [N, C, H, W] -> [N, C, 2H, 2W]. */
    public static NDArray upsampleNearest2x(NDArray x) {
        long[] s = x.getShape().getShape();
        return x.reshape(s[0], s[1], s[2], 1, s[3], 1)
                .broadcast(s[0], s[1], s[2], 2, s[3], 2)
                .reshape(s[0], s[1], s[2] * 2, s[3] * 2);
    }

    /**
     * Nearest-neighbour resize to [outH, outW] with torch's legacy "nearest" rule (source index
     * {@code floor(i * in / out)}): [N, C, H, W] -> [N, C, outH, outW].
     */
    public static NDArray resizeNearest(NDArray x, long outH, long outW) {
        long[] s = x.getShape().getShape();
        NDArray rows = nearestIndex(x, s[2], outH).reshape(1, 1, outH, 1).broadcast(s[0], s[1], outH, s[3]);
        NDArray y = x.gather(rows, 2);
        NDArray cols = nearestIndex(x, s[3], outW).reshape(1, 1, 1, outW).broadcast(s[0], s[1], outH, outW);
        return y.gather(cols, 3);
    }

    private static NDArray nearestIndex(NDArray like, long in, long out) {
        long[] idx = new long[(int) out];
        // float arithmetic as torch's nearest_idx (scale = (float) in / out, floorf(i * scale))
        float scale = (float) in / out;
        for (int i = 0; i < out; i++) {
            idx[i] = Math.min(in - 1, (long) Math.floor(i * scale));
        }
        return like.getManager().create(idx);
    }

    /**
     * Default number of query rows per attention slice: bounds the [batch*heads, rows, keys] score
     * matrix to about {@code budgetBytes} of float32 (diffusers' attention slicing, but sized from a
     * memory budget instead of a fixed head count).
     */
    public static long sliceRows(long batchHeads, long keys, long budgetBytes) {
        long perRow = Math.max(1, batchHeads * keys * 4L);
        return Math.max(1, budgetBytes / perRow);
    }

    /**
     * Query rows per slice for an attention with {@code batchHeads} x {@code keys} scores per row:
     * system property {@code tenstep.attention.slice} = {@code auto} (default: from
     * {@link #attentionBudget()}), {@code off} (no slicing) or a fixed number of rows N.
     */
    public static long rowsPerSlice(long batchHeads, long keys) {
        String mode = System.getProperty("tenstep.attention.slice", "auto").trim();
        if (mode.isEmpty() || mode.equalsIgnoreCase("auto")) {
            return sliceRows(batchHeads, keys, attentionBudget());
        }
        if (mode.equalsIgnoreCase("off") || mode.equals("0")) {
            return Long.MAX_VALUE;
        }
        return Math.max(1, Long.parseLong(mode));
    }

    /** Memory budget for one attention score slice; 256 MiB unless {@code tenstep.attention.budget} (bytes) is set. */
    public static long attentionBudget() {
        return Long.getLong("tenstep.attention.budget", 256L << 20);
    }

    /**
     * Scaled dot-product attention {@code softmax(q k^T * scale + mask) v}, computed in slices of
     * query rows so that the score matrix stays within {@link #attentionBudget()}.
     *
     * @param q     [B, Lq, d]
     * @param k     [B, Lk, d]
     * @param v     [B, Lk, dv]
     * @param scale usually {@code d^-0.5}
     * @param mask  additive mask broadcastable to [B, Lq, Lk] (e.g. CLIP's causal mask), or null
     * @return [B, Lq, dv], attached to q's manager
     */
    public static NDArray attention(NDArray q, NDArray k, NDArray v, float scale, NDArray mask) {
        return attention(q, k, v, scale, mask, false);
    }

    /**
     * As {@link #attention(NDArray, NDArray, NDArray, float, NDArray)}; with {@code upcast} and half
     * precision inputs, q and k are widened to fp32 so that the scores and the softmax are fp32 and
     * cannot overflow (diffusers' {@code upcast_attention}, set by SD 2.1, whose fp16 scores
     * overflow to inf and NaN: black images); the probabilities are narrowed back to v's dtype.
     * No effect on fp32 inputs.
     */
    public static NDArray attention(NDArray q, NDArray k, NDArray v, float scale, NDArray mask, boolean upcast) {
        return Profiler.time("sdpa", () -> attentionSliced(q, k, v, scale, mask, upcast));
    }

    private static NDArray attentionSliced(NDArray q0, NDArray k, NDArray v, float scale, NDArray mask, boolean upcast) {
        boolean widen = upcast && q0.getDataType() != ai.djl.ndarray.types.DataType.FLOAT32;
        NDArray q = widen ? q0.toType(ai.djl.ndarray.types.DataType.FLOAT32, false) : q0;
        long b = q.getShape().get(0);
        long lq = q.getShape().get(1);
        long lk = k.getShape().get(1);
        NDArray kt = (widen ? k.toType(ai.djl.ndarray.types.DataType.FLOAT32, false) : k).transpose(0, 2, 1);
        long rows = rowsPerSlice(b, lk);
        if (rows >= lq) {
            return attend(q.mul(scale), kt, v, mask);
        }
        NDList parts = new NDList();
        for (long start = 0; start < lq; start += rows) {
            long end = Math.min(lq, start + rows);
            NDArray qs = q.get(new NDIndex(":, {}:{}", start, end)).mul(scale);
            NDArray ms = mask == null ? null : mask.get(new NDIndex("..., {}:{}, :", start, end));
            NDArray part = attend(qs, kt, v, ms);
            parts.add(part);
            qs.close();
        }
        NDArray out = NDArrays.concat(parts, 1);
        parts.close();
        return out;
    }

    private static NDArray attend(NDArray q, NDArray kt, NDArray v, NDArray mask) {
        NDArray scores = q.matMul(kt);
        if (mask != null) {
            scores = scores.add(mask);
        }
        // positive axis: DJL's softmax(-1) takes a path ~6x slower than torch's last-dim kernel
        // (818 ms vs 130 ms for [16, 1024, 4096] on 2 cores, measured)
        NDArray probs = scores.softmax(scores.getShape().dimension() - 1);
        scores.close();
        if (probs.getDataType() != v.getDataType()) {
            // upcast attention: fp32 probabilities back to the compute dtype for the product with v
            NDArray narrow = probs.toType(v.getDataType(), false);
            probs.close();
            probs = narrow;
        }
        NDArray out = probs.matMul(v);
        probs.close();
        return out;
    }

    /** [B, L, heads*d] -> [B*heads, L, d] */
    public static NDArray splitHeads(NDArray x, long heads) {
        long[] s = x.getShape().getShape();
        return x.reshape(s[0], s[1], heads, s[2] / heads).transpose(0, 2, 1, 3).reshape(s[0] * heads, s[1], s[2] / heads);
    }

    /** [B*heads, L, d] -> [B, L, heads*d] */
    public static NDArray mergeHeads(NDArray x, long heads) {
        long[] s = x.getShape().getShape();
        return x.reshape(s[0] / heads, heads, s[1], s[2]).transpose(0, 2, 1, 3).reshape(s[0] / heads, s[1], heads * s[2]);
    }
}
