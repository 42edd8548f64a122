package dev.tenstep.sampling;

import ai.djl.ndarray.NDArray;
import java.util.List;

/**
 * Progress callback of {@link Sampler#sample}, called after every update on the sampling thread.
 * Return {@code false} to cancel: the sampler then throws {@link java.util.concurrent.CancellationException}.
 */
@FunctionalInterface
public interface StepListener {
    /** A listener that never cancels. */
    StepListener NONE = e -> true;

    /**
     * @param event this step's values; its arrays are valid only during the call (copy them to keep them)
     * @return true to continue, false to cancel sampling
     */
    boolean onStep(StepEvent event);

    /**
     * A listener that copies every step's {@code x0hat} and {@code x} (after the update) to Java arrays, e.g.
     * to compare with fixture {@code x0_hat_per_step} / {@code x_per_step}; never cancels.
     *
     * @param x0hats receives one float[] per step (row-major [1, 4, h, w]); may be null
     * @param xs     receives one float[] per step; may be null
     */
    static StepListener recording(List<float[]> x0hats, List<float[]> xs) {
        return e -> {
            if (x0hats != null) {
                x0hats.add(e.x0hat().toFloatArray());
            }
            if (xs != null) {
                xs.add(e.x().toFloatArray());
            }
            return true;
        };
    }

    /**
     * One sampler step.
     *
     * @param index     0-based step index k (0 = first, highest-noise step)
     * @param total     N, the number of steps
     * @param sigma     the noise level the model was evaluated at, {@code sigmas[k]}
     * @param sigmaNext the level after the update, {@code sigmas[k+1]}
     * @param timestep  the UNet timestep used
     * @param x0hat     the preview {@code x - sigma * epsBar} (a clean latent, pipeline scale), float32 [1, 4, h, w]
     * @param x         the VE latent after the update (at {@code sigmaNext}), float32 [1, 4, h, w]
     */
    record StepEvent(int index, int total, double sigma, double sigmaNext, double timestep, NDArray x0hat, NDArray x) {
    }
}
