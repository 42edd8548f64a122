package dev.tenstep.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Activation;

/** Activations and attention shared by CLIP, the UNet and the VAE. */
public final class Ops {
    private Ops() {
    }

    /** SiLU {@code x * sigmoid(x)}. */
    public static NDArray silu(NDArray x) {
        return Profiler.time("silu", () -> x.mul(x.getNDArrayInternal().sigmoid()));
    }

    private static final ThreadLocal<Boolean> RECORDING = ThreadLocal.withInitial(() -> Boolean.FALSE);

    /**
     * Whether this thread's forward passes are being recorded for a backward pass (training, inside
     * {@link #recordGradients()}). The modules then take their differentiable path: no in-place
     * updates of intermediates that autograd saved for the backward pass, no detaching copies, and
     * no fused attention kernel (a TorchScript call that records no gradients). Inference (the
     * default) keeps the in-place and fused paths.
     *
     * <p>An explicit flag rather than libtorch's grad mode: that mode is per thread and on by default
     * in threads other than the one DJL started on, so it says nothing about whether anyone trains.
     */
    public static boolean recording() {
        return RECORDING.get();
    }

    /**
     * Marks this thread's forward passes as recorded for training until the handle is closed (use in
     * try-with-resources around the forward and backward of a {@link ai.djl.training.GradientCollector}).
     */
    public static Recording recordGradients() {
        boolean previous = RECORDING.get();
        RECORDING.set(Boolean.TRUE);
        return () -> RECORDING.set(previous);
    }

    /** Ends a {@link #recordGradients()} span on close. */
    @FunctionalInterface
    public interface Recording extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * {@code owned + other}, written into {@code owned} (a fresh intermediate of the caller, never a
     * weight) unless autograd is {@link #recording()}, which needs {@code owned}'s value unchanged.
     */
    public static NDArray addInPlace(NDArray owned, NDArray other) {
        return recording() ? owned.add(other) : owned.addi(other);
    }

    /** {@code owned * other}, in place as {@link #addInPlace}. */
    public static NDArray mulInPlace(NDArray owned, NDArray other) {
        return recording() ? owned.mul(other) : owned.muli(other);
    }

    /**
     * SiLU computed in place in {@code owned}, which must be a fresh intermediate of the caller
     * (never a weight); out of place while autograd is {@link #recording()}.
     */
    public static NDArray siluInPlace(NDArray owned) {
        if (recording()) {
            return silu(owned);
        }
        return Profiler.time("silu", () -> {
            NDArray s = owned.getNDArrayInternal().sigmoid();
            owned.muli(s);
            s.close();
            return owned;
        });
    }

    /** Exact (erf) GELU, torch's default. */
    public static NDArray gelu(NDArray x) {
        return Activation.gelu(x);
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

    /** Whether {@link #attention} and {@link #attentionHeads} use the fused kernel now, on this thread. */
    public static boolean fusedAttention() {
        return fusedAttention(AttentionSettings.current());
    }

    /**
     * Whether attention computed with {@code settings} uses the fused kernel: when the setting asks for
     * it, libtorch has it, and autograd is not {@link #recording()} (the kernel runs as a TorchScript call
     * that records no gradients; training takes the sliced path).
     */
    public static boolean fusedAttention(AttentionSettings settings) {
        return settings.fused() && !recording() && FusedAttention.available();
    }

    /**
     * Scaled dot-product attention {@code softmax(q k^T * scale + mask) v}: with the fused kernel
     * (no mask, {@link AttentionSettings#fused()}) or in slices of query rows
     * ({@link AttentionSettings#rowsPerSlice}). The result may be an inference tensor of
     * libtorch: callers do not modify it in place.
     *
     * @param q     [B, Lq, d]
     * @param k     [B, Lk, d]
     * @param v     [B, Lk, dv]
     * @param scale usually {@code d^-0.5}
     * @param mask  additive mask broadcastable to [B, Lq, Lk] (e.g. CLIP's causal mask), or null
     * @return [B, Lq, dv], attached to q's manager
     */
    public static NDArray attention(NDArray q, NDArray k, NDArray v, float scale, NDArray mask) {
        return Profiler.time("sdpa", () -> {
            if (mask == null && fusedAttention()) {
                // [B, L, d] as [B, 1, L, d]: one head per batch entry (views, no copies)
                return FusedAttention.apply(q.expandDims(1), k.expandDims(1), v.expandDims(1), scale).squeeze(1);
            }
            return attentionSliced(q, k, v, scale, mask);
        });
    }

    /**
     * Multi-head {@link #attention} without mask on [B, H, L, d] views, e.g. {@code [B, L, H, d]}
     * projections transposed: the fused kernel reads them through their strides, the sliced path
     * copies them to [B*H, L, d]. The result may be an inference tensor of libtorch: callers do not
     * modify it in place.
     *
     * @param q [B, H, Lq, d]
     * @param k [B, H, Lk, d]
     * @param v [B, H, Lk, dv]
     * @return [B, H, Lq, dv], attached to q's manager
     */
    public static NDArray attentionHeads(NDArray q, NDArray k, NDArray v, float scale) {
        return attentionHeads(q, k, v, scale, false);
    }

    /**
     * As {@link #attentionHeads(NDArray, NDArray, NDArray, float)}; with {@code upcast} (diffusers'
     * {@code upcast_attention}, set by SD 2.1, whose fp16 scores overflow to inf/NaN: black images)
     * and half-precision inputs, the sliced path widens q and k to fp32 so that the scores and the
     * softmax are fp32, and narrows the probabilities back to v's dtype. The fused kernel needs no
     * upcast: it accumulates the scores and the online softmax in fp32 for half inputs. No effect on
     * fp32 inputs.
     */
    public static NDArray attentionHeads(NDArray q, NDArray k, NDArray v, float scale, boolean upcast) {
        return Profiler.time("sdpa", () -> {
            if (fusedAttention()) {
                return FusedAttention.apply(q, k, v, scale);
            }
            long[] qs = q.getShape().getShape();
            long[] ks = k.getShape().getShape();
            long[] vs = v.getShape().getShape();
            long bh = qs[0] * qs[1];
            boolean widen = upcast && q.getDataType() != DataType.FLOAT32;
            NDArray qq = widen ? q.toType(DataType.FLOAT32, false) : q;
            NDArray kk = widen ? k.toType(DataType.FLOAT32, false) : k;
            NDArray o = attentionSliced(qq.reshape(bh, qs[2], qs[3]), kk.reshape(bh, ks[2], ks[3]),
                    v.reshape(bh, vs[2], vs[3]), scale, null);
            return o.reshape(qs[0], qs[1], qs[2], vs[3]);
        });
    }

    private static NDArray attentionSliced(NDArray q, NDArray k, NDArray v, float scale, NDArray mask) {
        long b = q.getShape().get(0);
        long lq = q.getShape().get(1);
        long lk = k.getShape().get(1);
        NDArray kt = k.transpose(0, 2, 1);
        long rows = AttentionSettings.current().rowsPerSlice(b, lk);
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
