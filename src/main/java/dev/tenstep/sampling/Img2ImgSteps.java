package dev.tenstep.sampling;

import ai.djl.ndarray.NDArray;

import java.util.Arrays;
import java.util.Locale;

/**
 * Which steps of an N-step schedule an img2img run at denoising strength {@code s} runs: the run noises its init
 * latents to the level {@code sigmas[k0]} of a schedule of {@code S} steps and samples over {@code sigmas[k0..S]}
 * with the request's sampler ({@link SigmaSchedule#tail}); every sampler (DDIM, DDPM, GE, DPM++) runs the same way,
 * in the sigma space of docs/samplers.md, so no sampler needs an img2img variant of its own.
 * <ul>
 *   <li>{@link #DIFFUSERS} (the default): diffusers' {@code StableDiffusionImg2ImgPipeline.get_timesteps}
 *       (0.27.2): {@code init_timestep = min(int(N * s), N)}, {@code k0 = N - init_timestep}; it runs
 *       {@code int(N * s)} steps, none below {@code s = 1 / N} (refused by the request, see
 *       {@link #problem}). On DDIM's schedule this is exactly diffusers' DDIM img2img: {@code add_noise} at
 *       {@code timesteps[k0]}, then the text-to-image loop over {@code timesteps[k0:]}.</li>
 *   <li>{@link #A1111}: AUTOMATIC1111's {@code setup_img2img_steps} ("img2img_fix_steps" off) with its
 *       k-diffusion samplers ({@code sd_samplers_kdiffusion.py sample_img2img}):
 *       {@code t_enc = int(min(s, 0.999) * N)}, {@code sigma_sched = sigmas[N - t_enc - 1:]}, i.e.
 *       {@code k0 = N - t_enc - 1}: one step more than diffusers ({@code t_enc + 1}, at least 1). A1111's own DDIM
 *       (the CompVis sampler) instead noises one level above its first UNet call; that variant is not
 *       reproduced: DDIM here runs the k-diffusion form too.</li>
 * </ul>
 * The hires fix's second pass uses A1111's fixed-steps branch ({@link #fixedSteps}).
 */
public enum Img2ImgSteps {
    DIFFUSERS("diffusers"),
    A1111("a1111");

    /** The rule of a request that names none. */
    public static final Img2ImgSteps DEFAULT = DIFFUSERS;

    /** A1111 caps the strength below 1 ({@code min(strength, 0.999)}), so its strength 1 still keeps one level. */
    static final double A1111_MAX_STRENGTH = 0.999;

    private final String id;

    Img2ImgSteps(String id) {
        this.id = id;
    }

    /** The option value and infotext value: {@code diffusers} or {@code a1111}. */
    public String id() {
        return id;
    }

    /**
     * @throws IllegalArgumentException naming the valid values
     */
    public static Img2ImgSteps parse(String s) {
        String v = s == null ? "" : s.strip().toLowerCase(Locale.ROOT);
        for (Img2ImgSteps r : values()) {
            if (r.id.equals(v)) {
                return r;
            }
        }
        throw new IllegalArgumentException("unknown img2img step rule '" + s + "' (valid: "
                + String.join(", ", Arrays.stream(values()).map(Img2ImgSteps::id).toList()) + ")");
    }

    /**
     * The steps of a run: build the request's schedule with {@code scheduleSteps} steps and run it from step
     * {@code start} ({@link SigmaSchedule#tail}); {@code scheduleSteps - start} model evaluations.
     *
     * @param scheduleSteps S, the steps of the schedule built
     * @param start         k0 in [0, S - 1], the first step run; the init latents are noised to {@code sigmas[k0]}
     */
    public record Span(int scheduleSteps, int start) {
        public Span {
            if (scheduleSteps < 1 || start < 0 || start >= scheduleSteps) {
                throw new IllegalArgumentException("an img2img span needs 0 <= start < steps, got start " + start
                        + " of " + scheduleSteps);
            }
        }

        /** The model evaluations the run makes, {@code S - k0}. */
        public int steps() {
            return scheduleSteps - start;
        }
    }

    /** Steps run by this rule at {@code n} steps and the strength; 0 when the diffusers rule runs none. */
    public int stepsRun(int n, double strength) {
        return switch (this) {
            case DIFFUSERS -> Math.min((int) (n * strength), n);
            case A1111 -> (int) (Math.min(strength, A1111_MAX_STRENGTH) * n) + 1;
        };
    }

    /**
     * Why this rule cannot run {@code n} steps at the strength (a message for the {@code denoising_strength} field),
     * or null when it can: the diffusers rule runs no step below {@code 1 / n} (diffusers 0.27.2 then returns an empty
     * batch without an error; refused here, since the answer would be no picture of the request).
     */
    public String problem(int n, double strength) {
        if (this == DIFFUSERS && stepsRun(n, strength) < 1) {
            return "runs no step at " + n + " steps: the diffusers rule runs int(steps x strength) = int(" + n + " x "
                    + strength + ") = 0 steps; use a strength of at least 1/steps (" + minStrength(n)
                    + "), more steps, or the a1111 step rule, got " + strength;
        }
        return null;
    }

    /** 1 / n rounded up to 3 significant digits (a strength that runs one step), e.g. 0.1, 0.0334. */
    static String minStrength(int n) {
        return java.math.BigDecimal.valueOf(1.0 / n).round(new java.math.MathContext(3, java.math.RoundingMode.CEILING))
                .stripTrailingZeros().toPlainString();
    }

    /**
     * The span of this rule on an {@code n}-step schedule.
     *
     * @param strength the denoising strength in [0, 1]
     * @throws IllegalArgumentException if the rule runs no step ({@link #problem}) or the strength is outside [0, 1]
     */
    public Span span(int n, double strength) {
        checkStrength(strength);
        String why = problem(n, strength);
        if (why != null) {
            throw new IllegalArgumentException("denoising strength " + why);
        }
        int run = stepsRun(n, strength);
        return new Span(n, n - run);
    }

    /**
     * AUTOMATIC1111's fixed-steps branch of {@code setup_img2img_steps}, the rule of its hires fix
     * ({@code processing.py sample_hr_pass} passes {@code steps = hr_second_pass_steps or steps}): a schedule of
     * {@code S = int(steps / min(strength, 0.999))} steps, {@code t_enc = steps - 1}, run from index
     * {@code S - t_enc - 1 = S - steps}: exactly {@code steps} model evaluations, the first at the level of the
     * strength. Strength 0.7 at 10 steps: S = 14, from index 4.
     *
     * @param steps    the steps to run, &gt;= 1
     * @param strength the denoising strength in (0, 1]
     * @throws IllegalArgumentException for a strength outside (0, 1] (A1111 divides by it)
     */
    public static Span fixedSteps(int steps, double strength) {
        checkStrength(strength);
        if (!(strength > 0)) {
            throw new IllegalArgumentException("the fixed-steps rule needs a denoising strength above 0, got " + strength);
        }
        int s = fixedScheduleSteps(steps, strength);
        return new Span(s, s - steps);
    }

    /** {@code int(steps / min(strength, 0.999))}: the schedule length of {@link #fixedSteps} (strength &gt; 0). */
    public static int fixedScheduleSteps(int steps, double strength) {
        double s = steps / Math.min(strength, A1111_MAX_STRENGTH);
        return s >= Integer.MAX_VALUE ? Integer.MAX_VALUE : (int) s;
    }

    private static void checkStrength(double strength) {
        if (!(strength >= 0 && strength <= 1)) {
            throw new IllegalArgumentException("denoising strength must be between 0 and 1, got " + strength);
        }
    }

    /**
     * diffusers' {@code scheduler.add_noise(init, noise, t)} in the sampler's z coordinates:
     * {@code z = sqrt(alphaBar) * init + sqrt(1 - alphaBar) * noise} with {@code sqrt(alphaBar) = 1 / sqrt(1 + sigma^2)},
     * i.e. {@code (init + sigma * noise) / sqrt(1 + sigma^2)}: the sampler then starts from
     * {@code x = z * sqrt(1 + sigma^2) = init + sigma * noise}, k-diffusion's {@code xi = init_latent + noise * sigma_sched[0]}
     * (docs/samplers.md coordinates).
     *
     * @param init  the init latents [1, C, h, w], pipeline scale (scaling_factor applied)
     * @param noise unit-variance noise, same shape
     * @param sigma the start level {@code sigmas[k0]}, &gt; 0
     * @return z [1, C, h, w], a new array in init's manager
     */
    public static NDArray addNoise(NDArray init, NDArray noise, double sigma) {
        float c = (float) (1.0 / Math.sqrt(1.0 + sigma * sigma));
        return init.mul(c).add(noise.mul((float) (sigma * c)));
    }
}
