package dev.tenstep.sampling;

import java.util.Arrays;

/**
 * A sampling schedule of N steps ({@code docs/samplers.md} sections 3 and 4):
 * {@code sigmas[0] >= sigmas[1] >= ... >= sigmas[N] >= 0} (N + 1 noise levels, descending; the sampler
 * evaluates the model at {@code sigmas[0..N-1]} and ends at {@code sigmas[N]}), and {@code timesteps[k]},
 * k = 0..N-1, the training-scale timestep passed to the UNet at {@code sigmas[k]} (integers for discrete
 * schedules, fractional for continuous ones).
 *
 * <p>Repeated levels (from snapping at large N) are allowed; the sampler then makes a zero-length step.
 *
 * @param sigmas    N + 1 noise levels, non-increasing, all but the last &gt; 0, the last &gt;= 0
 * @param timesteps N timesteps in [0, T-1]
 * @param name      the schedule's name, e.g. {@code log-linear}
 */
public record SigmaSchedule(double[] sigmas, double[] timesteps, String name) {

    /**
     * @throws IllegalArgumentException if the lengths do not match, N &lt; 1, or the sigmas are not
     *                                  finite, non-increasing, positive before the last and &gt;= 0 at the end
     */
    public SigmaSchedule {
        if (sigmas == null || timesteps == null) {
            throw new IllegalArgumentException("sigmas and timesteps are required");
        }
        if (timesteps.length < 1 || sigmas.length != timesteps.length + 1) {
            throw new IllegalArgumentException("a schedule of N >= 1 steps needs N + 1 sigmas and N timesteps, got "
                    + sigmas.length + " sigmas and " + timesteps.length + " timesteps");
        }
        for (int k = 0; k < sigmas.length; k++) {
            double s = sigmas[k];
            boolean last = k == sigmas.length - 1;
            if (!Double.isFinite(s) || s < 0 || (!last && s == 0)) {
                throw new IllegalArgumentException("invalid sigma[" + k + "] = " + s + " in schedule " + name
                        + " (sigmas must be finite, > 0 except the last, which must be >= 0)");
            }
            if (k > 0 && s > sigmas[k - 1]) {
                throw new IllegalArgumentException("sigmas must be non-increasing; sigma[" + k + "] = " + s
                        + " > sigma[" + (k - 1) + "] = " + sigmas[k - 1] + " in schedule " + name);
            }
        }
        for (double t : timesteps) {
            if (!Double.isFinite(t) || t < 0) {
                throw new IllegalArgumentException("invalid timestep " + t + " in schedule " + name);
            }
        }
        sigmas = sigmas.clone();
        timesteps = timesteps.clone();
    }

    /** N, the number of model evaluations. */
    public int steps() {
        return timesteps.length;
    }

    @Override
    public double[] sigmas() {
        return sigmas.clone();
    }

    @Override
    public double[] timesteps() {
        return timesteps.clone();
    }

    /**
     * The last {@code N - k0} steps of this schedule: {@code sigmas[k0..N]} and {@code timesteps[k0..N-1]}, the schedule an
     * img2img run samples over after noising its init latents to {@code sigmas[k0]} (k-diffusion's
     * {@code sigmas[k0:]}; diffusers' {@code scheduler.timesteps[t_start:]}, see {@link Img2ImgSteps}).
     *
     * @param k0 the first step kept, in [0, N-1]
     * @throws IllegalArgumentException if k0 leaves no step
     */
    public SigmaSchedule tail(int k0) {
        if (k0 < 0 || k0 >= timesteps.length) {
            throw new IllegalArgumentException("a schedule of " + timesteps.length + " steps has no tail from step " + k0);
        }
        return k0 == 0 ? this : new SigmaSchedule(Arrays.copyOfRange(sigmas, k0, sigmas.length),
                Arrays.copyOfRange(timesteps, k0, timesteps.length), name);
    }

    /** {@code sigmas[k]}, k in [0, N]. */
    public double sigma(int k) {
        return sigmas[k];
    }

    /** {@code timesteps[k]}, k in [0, N-1]. */
    public double timestep(int k) {
        return timesteps[k];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SigmaSchedule s && Arrays.equals(sigmas, s.sigmas) && Arrays.equals(timesteps, s.timesteps)
                && java.util.Objects.equals(name, s.name);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Arrays.hashCode(sigmas) + Arrays.hashCode(timesteps)) + java.util.Objects.hashCode(name);
    }

    @Override
    public String toString() {
        return "SigmaSchedule[" + name + ", sigmas=" + Arrays.toString(sigmas) + ", timesteps=" + Arrays.toString(timesteps) + "]";
    }
}
