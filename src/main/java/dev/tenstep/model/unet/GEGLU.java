package dev.tenstep.model.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import dev.tenstep.model.Weights;
import dev.tenstep.model.nn.Linear;
import dev.tenstep.model.nn.Ops;

/**
 * diffusers {@code activations.GEGLU} ({@code ff.net.0}): {@code proj} maps dim to 2 x inner; the
 * first half is the value, the second the gate: {@code value * gelu(gate)} (exact erf GELU).
 */
public final class GEGLU {
    public final Linear proj;

    public GEGLU(Weights w, String prefix, long dim, long inner) {
        this.proj = new Linear(w, prefix + ".proj", dim, inner * 2, true);
    }

    /** [B, L, dim] -> [B, L, inner]. */
    public NDArray forward(NDArray x) {
        NDArray h = proj.forward(x);
        NDList halves = h.split(2, x.getShape().dimension() - 1);
        // gelu(gate) is a fresh array: multiply the value into it in place (one [B, L, inner] buffer less)
        NDArray out = Ops.mulInPlace(Ops.gelu(halves.get(1)), halves.get(0));
        halves.close();
        h.close();
        return out;
    }
}
