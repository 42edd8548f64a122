package dev.tenstep.model.unet;

import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;
import dev.tenstep.model.nn.Linear;
import dev.tenstep.model.nn.Ops;

/**
 * {@code time_embedding} (diffusers {@code embeddings.TimestepEmbedding}): {@code linear_2(SiLU(linear_1(x)))}.
 * Weights {@code prefix.linear_1} [timeDim, inDim], {@code prefix.linear_2} [timeDim, timeDim].
 */
public final class TimestepEmbedding {
    public final Linear linear1;
    public final Linear linear2;

    public TimestepEmbedding(Weights w, String prefix, long inDim, long timeDim) {
        this.linear1 = new Linear(w, prefix + ".linear_1", inDim, timeDim, true);
        this.linear2 = new Linear(w, prefix + ".linear_2", timeDim, timeDim, true);
    }

    /** [B, inDim] -> [B, timeDim]. */
    public NDArray forward(NDArray x) {
        return linear2.forward(Ops.silu(linear1.forward(x)));
    }
}
