package dev.tenstep.sampling;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The sampler presets, the project's one vocabulary for samplers: requests carry a {@code SamplerKind},
 * and the CLI, the web forms (through {@code /api/info}), prompt files and the A1111 API parse names
 * through {@link #byName}. Each preset is a point (gamma, mu) of the one sampler loop of {@link Sampler}
 * (docs/samplers.md, "The sampler loop") plus the schedule it uses by default.
 */
public enum SamplerKind {
    /** DDIM with eta 0 (Song et al. 2021): gamma 1, mu 0, on diffusers' DDIM timesteps. */
    DDIM("ddim", "DDIM", 1.0, 0.0, ScheduleKind.DDIM, List.of()),
    /**
     * Gradient estimation (Permenter and Yuan, ICML 2024, arXiv 2306.04848, Algorithm 2): gamma 2, mu 0,
     * on the paper's log-linear schedule.
     */
    GE("ge", "GE", 2.0, 0.0, ScheduleKind.LOG_LINEAR,
            List.of("euler_ge", "gradient estimation", "gradient-estimation", "gradient_estimation")),
    /** DDPM-like stochastic sampler: gamma 1, mu 0.5 (half of each step's noise is fresh). */
    DDPM("ddpm", "DDPM", 1.0, 0.5, ScheduleKind.TRAILING, List.of()),
    /**
     * DPM-Solver++(2M) (Lu et al. 2022, arXiv 2211.01095, Algorithm 2): multistep, second order, data
     * prediction, on the Karras schedule as A1111's "DPM++ 2M" with scheduler "Karras". Not a point of the
     * gamma/mu loop: {@link #method} gives {@link DpmSolverPlusPlus2M}; gamma is fixed at 1 (no override).
     */
    DPMPP_2M("dpmpp-2m", "DPM++ 2M", 1.0, 0.0, ScheduleKind.KARRAS,
            List.of("dpm++ 2m", "dpm++2m", "dpmpp_2m", "dpmpp2m", "dpm++ 2m karras", "k_dpmpp_2m"));

    /** The sampler of a request that names none. */
    public static final SamplerKind DEFAULT = GE;

    private final String id;
    private final String displayName;
    private final double gamma;
    private final double mu;
    private final ScheduleKind defaultSchedule;
    private final List<String> aliases;

    SamplerKind(String id, String displayName, double gamma, double mu, ScheduleKind defaultSchedule,
                List<String> aliases) {
        this.id = id;
        this.displayName = displayName;
        this.gamma = gamma;
        this.mu = mu;
        this.defaultSchedule = defaultSchedule;
        this.aliases = aliases;
    }

    /** The name used in requests, files and on the command line: {@code ddim}, {@code ge}, {@code ddpm}. */
    public String id() {
        return id;
    }

    /** The name shown in infotexts, UIs and A1111's {@code sampler_name} ({@code DDIM}, {@code GE}, ...). */
    public String displayName() {
        return displayName;
    }

    /** The preset's gradient-estimation weight gamma (&gt;= 1; 1 = no gradient estimation). */
    public double gamma() {
        return gamma;
    }

    /** The preset's stochasticity mu in [0, 1) (0 = deterministic). */
    public double mu() {
        return mu;
    }

    /** The schedule used when a request names none. */
    public ScheduleKind defaultSchedule() {
        return defaultSchedule;
    }

    /** Other accepted spellings, lower case (the id and display name are always accepted). */
    public List<String> aliases() {
        return aliases;
    }

    /**
     * A sampler with this preset's parameters.
     *
     * @throws UnsupportedOperationException for {@link #DPMPP_2M}, which is not a gamma/mu preset (use {@link #method})
     */
    public Sampler sampler() {
        return sampler(gamma);
    }

    /**
     * A sampler with this preset's mu and the given gamma (a request's {@code gamma} override).
     *
     * @throws IllegalArgumentException if gamma is not a finite number &gt;= 1
     * @throws UnsupportedOperationException for {@link #DPMPP_2M} (use {@link #method})
     */
    public Sampler sampler(double gammaOverride) {
        if (this == DPMPP_2M) {
            throw new UnsupportedOperationException(displayName + " is not a gamma/mu preset; use method()");
        }
        return new Sampler(gammaOverride, mu);
    }

    /** Whether a request may override this sampler's gamma (every gamma/mu preset; not DPM++ 2M). */
    public boolean hasGamma() {
        return this != DPMPP_2M;
    }

    /**
     * The sampling method of this preset: the gamma/mu loop with the given gamma, or DPM-Solver++(2M) (which
     * has no gamma; the argument is then ignored).
     *
     * @throws IllegalArgumentException if gamma is not a finite number &gt;= 1 (gamma/mu presets)
     */
    public LatentSampler method(double gammaOverride) {
        return this == DPMPP_2M ? new DpmSolverPlusPlus2M() : new Sampler(gammaOverride, mu);
    }

    /** {@link #method(double)} with the preset's gamma. */
    public LatentSampler method() {
        return method(gamma);
    }

    /** Every sampler's {@link #id}, in declaration order: the list shown to users. */
    public static List<String> ids() {
        return Arrays.stream(values()).map(SamplerKind::id).toList();
    }

    /**
     * Case-insensitive lookup by id, display name or alias ({@code "DDIM"}, {@code "ge"},
     * {@code "Gradient Estimation"}).
     *
     * @throws IllegalArgumentException "unknown sampler 'x' (valid: ddim, ge, ddpm)"
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
