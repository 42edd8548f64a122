package dev.tenstep.sampling;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.OptionalDouble;

/**
 * The samplers, the project's one vocabulary for them: requests carry a {@code SamplerKind}, and the CLI, the
 * web forms (through {@code /api/info}), prompt files and the A1111 API parse names through {@link #byName}. Each
 * kind makes its own {@link LatentSampler} ({@link #sampler(Double)}) and names the schedule it uses by default.
 * DDIM, GE and DDPM are points (gamma, mu) of the one loop of {@link Sampler} (docs/samplers.md, "The sampler
 * loop"); DPM++ 2M is {@link DpmSolverPlusPlus2M}. Only GE has a request parameter, its gradient-estimation weight
 * gamma ({@link #defaultGamma}); the others have none. Euler is the DDIM loop on its own schedule ({@link #EULER}).
 */
public enum SamplerKind {
    /** DDIM with eta 0 (Song et al. 2021): the loop with gamma 1, mu 0, on diffusers' DDIM timesteps. */
    DDIM("ddim", "DDIM", null, ScheduleKind.DDIM, List.of()) {
        @Override
        LatentSampler create(double gamma) {
            return new Sampler(1.0, 0.0);
        }
    },
    /**
     * Gradient estimation (Permenter and Yuan, ICML 2024, arXiv 2306.04848, Algorithm 2): the loop with gamma 2
     * (a request may set another gamma), mu 0, on the paper's log-linear schedule.
     */
    GE("ge", "GE", 2.0, ScheduleKind.LOG_LINEAR,
            List.of("euler_ge", "gradient estimation", "gradient-estimation", "gradient_estimation")) {
        @Override
        LatentSampler create(double gamma) {
            return new Sampler(gamma, 0.0);
        }
    },
    /** DDPM-like stochastic sampler: the loop with gamma 1, mu 0.5 (half of each step's noise is fresh). */
    DDPM("ddpm", "DDPM", null, ScheduleKind.TRAILING, List.of()) {
        @Override
        LatentSampler create(double gamma) {
            return new Sampler(1.0, 0.5);
        }
    },
    /**
     * DPM-Solver++(2M) (Lu et al. 2022, arXiv 2211.01095, Algorithm 2): multistep, second order, data
     * prediction, on the Karras schedule as A1111's "DPM++ 2M" with scheduler "Karras" ({@link DpmSolverPlusPlus2M}).
     */
    DPMPP_2M("dpmpp-2m", "DPM++ 2M", null, ScheduleKind.KARRAS,
            List.of("dpm++ 2m", "dpm++2m", "dpmpp_2m", "dpmpp2m", "dpm++ 2m karras", "k_dpmpp_2m")) {
        @Override
        LatentSampler create(double gamma) {
            return new DpmSolverPlusPlus2M();
        }
    },
    /**
     * Euler, A1111's "Euler" and diffusers' {@code EulerDiscreteScheduler} with {@code s_churn} 0 (Karras et al. 2022,
     * arXiv 2206.00364, Algorithm 1 without the second-order correction): {@code x0 = x - s_k g},
     * {@code d = (x - x0) / s_k}, {@code x += d (s_{k+1} - s_k)}, which is the loop of {@link Sampler} with gamma 1,
     * mu 0 (the update is the same; only the schedule differs from DDIM's), on the {@link ScheduleKind#EULER} levels
     * (diffusers' Euler sigmas: "leading" timesteps, then 0). SDXL's scheduler config names it; GE stays the default.
     */
    EULER("euler", "Euler", null, ScheduleKind.EULER,
            List.of("k_euler", "euler discrete", "euler_discrete", "eulerdiscrete", "eulerdiscretescheduler")) {
        @Override
        LatentSampler create(double gamma) {
            return new Sampler(1.0, 0.0);
        }
    };

    /** The sampler of a request that names none. */
    public static final SamplerKind DEFAULT = GE;

    /** The range of a request's gamma (GE), inclusive. */
    public static final double MIN_GAMMA = 1.0;
    /** The range of a request's gamma (GE), inclusive. */
    public static final double MAX_GAMMA = 10.0;

    private final String id;
    private final String displayName;
    /** The default gamma of a kind that has one (GE), else null. */
    private final Double defaultGamma;
    private final ScheduleKind defaultSchedule;
    private final List<String> aliases;

    SamplerKind(String id, String displayName, Double defaultGamma, ScheduleKind defaultSchedule, List<String> aliases) {
        this.id = id;
        this.displayName = displayName;
        this.defaultGamma = defaultGamma;
        this.defaultSchedule = defaultSchedule;
        this.aliases = aliases;
    }

    /** This kind's sampler with the given gamma (already checked; ignored by kinds without gamma). */
    abstract LatentSampler create(double gamma);

    /**
     * The name used in requests, files and on the command line: {@code ddim}, {@code ge}, {@code ddpm},
     * {@code dpmpp-2m}, {@code euler}.
     */
    public String id() {
        return id;
    }

    /** The name shown in infotexts, UIs and A1111's {@code sampler_name} ({@code DDIM}, {@code GE}, ...). */
    public String displayName() {
        return displayName;
    }

    /** Whether a request may set this sampler's gradient-estimation weight gamma (GE only). */
    public boolean hasGamma() {
        return defaultGamma != null;
    }

    /** The gamma used when a request sets none: 2 for GE; empty for samplers without gamma. */
    public OptionalDouble defaultGamma() {
        return defaultGamma == null ? OptionalDouble.empty() : OptionalDouble.of(defaultGamma);
    }

    /** The schedule used when a request names none. */
    public ScheduleKind defaultSchedule() {
        return defaultSchedule;
    }

    /** Other accepted spellings, lower case (the id and display name are always accepted). */
    public List<String> aliases() {
        return aliases;
    }

    /** This kind's sampler with its default parameters. */
    public LatentSampler sampler() {
        return sampler(null);
    }

    /**
     * This kind's sampler.
     *
     * @param gamma a request's gradient-estimation weight, in [{@value #MIN_GAMMA}, {@value #MAX_GAMMA}], or null
     *              for the default; only for a kind that {@link #hasGamma}
     * @throws IllegalArgumentException if gamma is given to a sampler without one, or is out of range
     */
    public LatentSampler sampler(Double gamma) {
        if (gamma == null) {
            return create(defaultGamma == null ? Double.NaN : defaultGamma);
        }
        if (defaultGamma == null) {
            throw new IllegalArgumentException(displayName + " has no gradient-estimation weight gamma (got " + gamma + ")");
        }
        if (!(gamma >= MIN_GAMMA && gamma <= MAX_GAMMA)) {
            throw new IllegalArgumentException("gamma must be between " + MIN_GAMMA + " and " + MAX_GAMMA + ", got " + gamma);
        }
        return create(gamma);
    }

    /** Every sampler's {@link #id}, in declaration order: the list shown to users. */
    public static List<String> ids() {
        return Arrays.stream(values()).map(SamplerKind::id).toList();
    }

    /**
     * Case-insensitive lookup by id, display name or alias ({@code "DDIM"}, {@code "ge"},
     * {@code "Gradient Estimation"}).
     *
     * @throws IllegalArgumentException "unknown sampler 'x' (valid: ddim, ge, ddpm, dpmpp-2m)"
     */
    public static SamplerKind byName(String name) {
        String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        for (SamplerKind k : values()) {
            if (k.id.equals(n) || k.displayName.toLowerCase(Locale.ROOT).equals(n) || k.aliases.contains(n)) {
                return k;
            }
        }
        throw new IllegalArgumentException("unknown sampler '" + name + "' (valid: " + String.join(", ", ids()) + ")");
    }
}
