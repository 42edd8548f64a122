package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;

import java.util.Objects;

/**
 * Progress of one denoising step, as delivered to a {@link TextToImage.Listener}.
 *
 * <p>The step's x0-hat stays on the compute device until a listener asks for it: {@link #x0hat()} copies it to
 * the host on its first call (on a GPU a device synchronisation, so a generation nobody previews makes none).
 * The device array lives only while the listener's {@code onStep} runs; a copy taken then stays readable
 * afterwards (a job keeps its last step for previews on demand), and {@link #hasX0hat()} says whether one can
 * still be had. Thread-safe: another thread may read x0-hat while the sampling thread is inside the callback.
 */
public final class StepProgress {
    private final int step;
    private final int total;
    private final double sigma;
    private final double timestep;
    private final long elapsedMs;
    private final int height;
    private final int width;
    private final String conditioning;
    /** The device x0-hat while the callback runs, else null. Guarded by {@code this}. */
    private NDArray device;
    /** The host copy, once taken. Guarded by {@code this}. */
    private float[] host;

    private StepProgress(int step, int total, double sigma, double timestep, long elapsedMs, NDArray device,
                         float[] host, int height, int width, String conditioning) {
        this.step = step;
        this.total = total;
        this.sigma = sigma;
        this.timestep = timestep;
        this.elapsedMs = elapsedMs;
        this.device = device;
        this.host = host;
        this.height = height;
        this.width = width;
        this.conditioning = Objects.requireNonNull(conditioning, "conditioning");
    }

    /**
     * A step whose x0-hat is already on the host.
     *
     * @param step      1-based step number
     * @param total     number of steps N
     * @param sigma     noise level the UNet was evaluated at
     * @param timestep  UNet timestep (training scale, may be fractional)
     * @param elapsedMs wall time since the generation started
     * @param x0hat     the step's clean-latent estimate, row-major [1, C, h, w] at pipeline scale (not copied)
     * @param height    latent height h
     * @param width     latent width w
     * @param conditioning which prompt-schedule entries conditioned this step, {@code p<i>/n<j>} (entry i of the
     *                  prompt's schedule, j of the negative prompt's); {@code p0/n0} throughout without prompt editing
     */
    public StepProgress(int step, int total, double sigma, double timestep, long elapsedMs, float[] x0hat, int height,
                        int width, String conditioning) {
        this(step, total, sigma, timestep, elapsedMs, null, Objects.requireNonNull(x0hat, "x0hat"), height, width,
                conditioning);
    }

    /** Without a conditioning id ({@code p0/n0}). */
    public StepProgress(int step, int total, double sigma, double timestep, long elapsedMs, float[] x0hat, int height,
                        int width) {
        this(step, total, sigma, timestep, elapsedMs, x0hat, height, width, "p0/n0");
    }

    /**
     * A step whose x0-hat is still on the device: copied on the first {@link #x0hat()} call. The producer must call
     * {@link #release()} when the listener's callback has returned and before the array is closed.
     *
     * @param x0hat the device array, float32 [1, C, h, w] at pipeline scale; the other parameters as in
     *              {@link #StepProgress(int, int, double, double, long, float[], int, int, String)}
     */
    public static StepProgress onDevice(int step, int total, double sigma, double timestep, long elapsedMs,
                                        NDArray x0hat, int height, int width, String conditioning) {
        return new StepProgress(step, total, sigma, timestep, elapsedMs, Objects.requireNonNull(x0hat, "x0hat"), null,
                height, width, conditioning);
    }

    /** 1-based step number. */
    public int step() {
        return step;
    }

    /** Number of steps N. */
    public int total() {
        return total;
    }

    /** Noise level the UNet was evaluated at. */
    public double sigma() {
        return sigma;
    }

    /** UNet timestep (training scale, may be fractional). */
    public double timestep() {
        return timestep;
    }

    /** Wall time since the generation started, ms. */
    public long elapsedMs() {
        return elapsedMs;
    }

    /** Latent height h. */
    public int height() {
        return height;
    }

    /** Latent width w. */
    public int width() {
        return width;
    }

    /** Which prompt-schedule entries conditioned this step, {@code p<i>/n<j>}. */
    public String conditioning() {
        return conditioning;
    }

    /**
     * The step's clean-latent estimate, row-major [1, C, h, w] at pipeline scale: copied from the device on the
     * first call (during the listener's callback), the same array afterwards (do not modify it).
     *
     * @throws IllegalStateException if first asked after the callback returned (the device array is gone; a
     *                               listener that wants x0-hat later must ask for it during the callback)
     */
    public synchronized float[] x0hat() {
        if (host == null) {
            if (device == null) {
                throw new IllegalStateException("x0-hat of step " + step + " was not copied during its step callback");
            }
            host = device.toFloatArray();
            device = null;
        }
        return host;
    }

    /** Whether {@link #x0hat()} can answer: it was copied, or the callback still runs. */
    public synchronized boolean hasX0hat() {
        return host != null || device != null;
    }

    /**
     * Ends the device array's life for this object (the producer calls it after the listener returned): later
     * {@link #x0hat()} calls answer only if a copy was taken.
     */
    public synchronized void release() {
        device = null;
    }

    @Override
    public String toString() {
        return "StepProgress[step=" + step + ", total=" + total + ", sigma=" + sigma + ", timestep=" + timestep
                + ", elapsedMs=" + elapsedMs + ", " + height + "x" + width + ", conditioning=" + conditioning + "]";
    }
}
