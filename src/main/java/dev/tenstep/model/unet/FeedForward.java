package dev.tenstep.model.unet;

import dev.tenstep.model.nn.Profiler;
import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;
import dev.tenstep.model.nn.Linear;

/**
 * diffusers {@code attention.FeedForward} with GEGLU (mult 4): {@code net.0} = GEGLU(dim -> 4 dim),
 * {@code net.1} = dropout (nothing at inference), {@code net.2} = Linear(4 dim -> dim).
 */
public final class FeedForward {
    /** {@code net.0} */
    public final GEGLU net0;
    /** {@code net.2} */
    public final Linear net2;

    public FeedForward(Weights w, String prefix, long dim) {
        long inner = dim * 4;
        this.net0 = new GEGLU(w, prefix + ".net.0", dim, inner);
        this.net2 = new Linear(w, prefix + ".net.2", inner, dim, true);
    }

    /** [B, L, dim] -> [B, L, dim]. */
    public NDArray forward(NDArray x) {
        return Profiler.time("feedforward", () -> net2.forward(net0.forward(x)));
    }
}
