package dev.tenstep.model.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Sinusoidal timestep embedding ({@code time_proj}; diffusers {@code embeddings.Timesteps} /
 * {@code get_timestep_embedding}), evaluated in float32 as diffusers does. No weights.
 *
 * <p>{@code half = dim / 2}, {@code freq_i = exp(-ln(10000) * i / (half - freqShift))},
 * {@code arg_i = t * freq_i}; the result is {@code [sin | cos]}, or {@code [cos | sin]} with
 * {@code flipSinToCos}; an odd {@code dim} is zero-padded by one column.
 */
public final class Timesteps {
    private final int dim;
    private final boolean flipSinToCos;
    private final double freqShift;

    public Timesteps(int dim, boolean flipSinToCos, double freqShift) {
        this.dim = dim;
        this.flipSinToCos = flipSinToCos;
        this.freqShift = freqShift;
    }

    /**
     * @param t     the timestep on the training scale (may be fractional)
     * @param batch rows of the result (the scalar is broadcast)
     * @return [batch, dim] float32 in {@code manager}
     */
    public NDArray forward(NDManager manager, float t, long batch) {
        int half = dim / 2;
        NDArray exponent = manager.arange(0, half, 1, DataType.FLOAT32)
                .mul((float) -Math.log(10000.0)).div((float) (half - freqShift));
        NDArray args = exponent.exp().mul(t).reshape(1, half);
        NDArray sin = args.sin();
        NDArray cos = args.cos();
        NDArray emb = flipSinToCos ? cos.concat(sin, 1) : sin.concat(cos, 1);
        if (dim % 2 == 1) {
            emb = emb.concat(manager.zeros(new Shape(1, 1)), 1);
        }
        return emb.repeat(0, batch);
    }

    /**
     * One timestep per sample (training draws them per sample).
     *
     * @param t [B] float32 timesteps on the training scale, on the manager the result goes to
     * @return [B, dim] float32, attached to t's manager
     */
    public NDArray forward(NDArray t) {
        NDManager manager = t.getManager();
        int half = dim / 2;
        NDArray exponent = manager.arange(0, half, 1, DataType.FLOAT32)
                .mul((float) -Math.log(10000.0)).div((float) (half - freqShift));
        long b = t.getShape().get(0);
        NDArray args = t.toType(DataType.FLOAT32, false).reshape(b, 1).mul(exponent.exp().reshape(1, half));
        NDArray sin = args.sin();
        NDArray cos = args.cos();
        NDArray emb = flipSinToCos ? cos.concat(sin, 1) : sin.concat(cos, 1);
        if (dim % 2 == 1) {
            emb = emb.concat(manager.zeros(new Shape(b, 1)), 1);
        }
        return emb;
    }
}
