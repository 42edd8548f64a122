package dev.tenstep.sampling;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The sigma schedules, the project's one vocabulary for them (requests, CLI, web, prompt files and the
 * A1111 API all parse names through {@link #byName}): {@code docs/samplers.md} section 4: N steps give N + 1 noise levels (descending) and the
 * N timesteps passed to the UNet. Discrete schedules ({@code ddim}, {@code trailing}, {@code log-linear})
 * only produce trained noise levels and integer timesteps; continuous ones ({@code karras},
 * {@code log-linear-continuous}) produce fractional timesteps via {@link NoiseSchedule#timestepOf}.
 *
 * <p>Every builder rejects {@code N < 1} and {@code N > T} with an {@link IllegalArgumentException} naming
 * the requested steps.
 */
public enum ScheduleKind {
    /**
     * diffusers DDIM "leading" spacing plus {@code steps_offset}: {@code t_k = k * (T / N) + steps_offset}
     * (integer division), k = N-1..0, then the final level {@code sqrt(1/finalAlphaBar - 1)}.
     * SD, N = 10: 901, 801, ..., 1. Source: diffusers {@code scheduling_ddim.py set_timesteps}.
     * A step count whose first timestep would lie beyond T-1 (SD: N = 1000 with offset 1, t = 1000) is refused
     * ({@link #maxDdimSteps}): diffusers fails there indexing {@code alphas_cumprod[1000]}, and clamping it to T-1 would
     * run the first two steps at the same sigma, a wasted UNet call.
     */
    DDIM("ddim", null, List.of("ddim_uniform", "leading")),
    /**
     * {@code t_k = round(T * (1 - k/N)) - 1} (numpy round-half-even of {@code arange(T, 0, -T/N)}), k = 0..N-1,
     * then t = 0. SD, N = 10: 999, 899, ..., 99, 0. Source: diffusers "trailing", smalldiffusion.
     */
    TRAILING("trailing", null, List.of()),
    /**
     * The paper's schedule (Permenter and Yuan, ICML 2024, arXiv:2306.04848, used with Algorithm 2 in section 6),
     * as the authors' reference {@code GEScheduler} builds it ({@code style='Linear'}, {@code factor=0}): N sigmas geometric from
     * {@code sHi} (default {@link #DEFAULT_S_HI}) to {@code sigma(T / N)} inclusive, all but the last snapped
     * up to the smallest t with {@code sigma(t) >= s}, the last is t = T / N; then t = 0.
     */
    LOG_LINEAR("log-linear", null, List.of("loglinear")),
    /**
     * EDM (Karras et al. 2022), rho = 7: N sigmas from {@code sigma(T-1)} to {@code sigma(0)}, then 0;
     * fractional timesteps.
     */
    KARRAS("karras", "Karras", List.of()),
    /** N + 1 sigmas geometric from {@code sigma(T-1)} to {@code sigma(0)}, not snapped; fractional timesteps. */
    LOG_LINEAR_CONTINUOUS("log-linear-continuous", null, List.of()),
    /**
     * diffusers {@code EulerDiscreteScheduler.set_timesteps} with "leading" spacing ({@code scheduling_euler_discrete.py},
     * SDXL's config): the {@link #DDIM} timesteps {@code t_k = k * (T / N) + steps_offset}, k = N-1..0, their levels
     * {@code sqrt((1 - alphaBar) / alphaBar)} evaluated in float32 as diffusers does, then a final level 0 (DDIM's
     * schedule ends at {@code sigma(final alphaBar)} instead). SD/SDXL, N = 10: 901, 801, ..., 1, then sigma 0.
     * Refuses the step counts {@link #DDIM} refuses.
     */
    EULER("euler", null, List.of("euler-discrete", "euler_discrete"));

    /** The paper's top noise level of the log-linear schedule. */
    public static final double DEFAULT_S_HI = 8.35;
    /** The EDM rho of the karras schedule. */
    public static final double KARRAS_RHO = 7.0;

    private final String id;
    private final String a1111Name;
    private final List<String> aliases;

    ScheduleKind(String id, String a1111Name, List<String> aliases) {
        this.id = id;
        this.a1111Name = a1111Name;
        this.aliases = aliases;
    }

    /** The schedule's name as used in requests, files and docs/samplers.md, e.g. {@code log-linear}. */
    public String id() {
        return id;
    }

    /**
     * A1111's label of this schedule where A1111 computes the same levels ({@code Karras}), else null: A1111's
     * {@code Exponential}, {@code SGM Uniform} and {@code DDIM} are near neighbours of {@code log-linear-continuous},
     * {@code trailing} and {@code ddim}, not the same levels (docs/samplers.md section 4), so those names are refused
     * rather than run as another schedule.
     */
    public String a1111Name() {
        return a1111Name;
    }

    /** The label A1111's infotext ({@code Schedule type}) and {@code /sdapi/v1/schedulers} show: A1111's, else the id. */
    public String label() {
        return a1111Name != null ? a1111Name : id;
    }

    /** A1111's scheduler labels that name no schedule of this project (docs/web.md says why each differs). */
    public static final List<String> A1111_ONLY = List.of("Uniform", "Exponential", "Polyexponential", "SGM Uniform",
            "KL Optimal", "Align Your Steps", "Simple", "Normal", "Beta");

    /** Other accepted spellings (A1111's scheduler names included), lower case. */
    public List<String> aliases() {
        return aliases;
    }

    /** Every schedule's {@link #id}, in declaration order: the list shown to users. */
    public static List<String> ids() {
        return Arrays.stream(values()).map(ScheduleKind::id).toList();
    }

    /**
     * Looks a schedule up by its id, A1111 name or alias (case-insensitive; {@code _} and space
     * accepted for {@code -}).
     *
     * @throws IllegalArgumentException "unknown schedule 'x' (valid: ddim, trailing, ...)"
     */
    public static ScheduleKind byName(String name) {
        String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        String dashed = n.replace('_', '-').replace(' ', '-');
        for (ScheduleKind s : values()) {
            if (s.id.equals(dashed) || (s.a1111Name != null && s.a1111Name.toLowerCase(Locale.ROOT).equals(n))
                    || s.aliases.contains(n)) {
                return s;
            }
        }
        for (String a : A1111_ONLY) {
            if (a.toLowerCase(Locale.ROOT).replace(' ', '_').equals(n.replace(' ', '_'))) {
                throw new IllegalArgumentException("schedule '" + name + "' is A1111's, which this server does not have"
                        + " (its levels differ from every schedule here; see docs/web.md); valid: " + String.join(", ", ids()));
            }
        }
        throw new IllegalArgumentException("unknown schedule '" + name + "' (valid: " + String.join(", ", ids()) + ")");
    }

    /**
     * Builds the schedule of {@code steps} model evaluations with default options
     * ({@code sHi = 8.35} for log-linear; the config's {@code steps_offset} for ddim).
     *
     * @param ns       the training tables
     * @param steps    N in [1, T]
     * @throws IllegalArgumentException if N &lt; 1 or N &gt; T
     */
    public SigmaSchedule build(NoiseSchedule ns, int steps) {
        return build(ns, steps, ns.stepsOffset());
    }

    /**
     * As {@link #build(NoiseSchedule, int)} with an explicit {@code steps_offset} (used by {@code ddim} only;
     * SD: 1).
     */
    public SigmaSchedule build(NoiseSchedule ns, int steps, int stepsOffset) {
        return switch (this) {
            case DDIM -> ddim(ns, steps, stepsOffset);
            case TRAILING -> trailing(ns, steps);
            case LOG_LINEAR -> logLinear(ns, steps, DEFAULT_S_HI);
            case KARRAS -> karras(ns, steps, KARRAS_RHO);
            case LOG_LINEAR_CONTINUOUS -> logLinearContinuous(ns, steps);
            case EULER -> euler(ns, steps, stepsOffset);
        };
    }

    static void checkSteps(NoiseSchedule ns, int steps) {
        int t = ns.numTrainTimesteps();
        if (steps < 1 || steps > t) {
            throw new IllegalArgumentException("steps must be between 1 and " + t
                    + " (num_train_timesteps), got steps = " + steps);
        }
    }

    /**
     * The most steps {@link #DDIM} takes with this {@code steps_offset} so that every timestep is a trained one
     * ({@code (N - 1) * (T / N) + steps_offset <= T - 1}): SD (T = 1000, offset 1): 999; offset 0: T.
     */
    public static int maxDdimSteps(int trainTimesteps, int stepsOffset) {
        for (int n = trainTimesteps; n > 1; n--) {
            if ((long) (n - 1) * (trainTimesteps / n) + stepsOffset <= trainTimesteps - 1) {
                return n;
            }
        }
        return 1;
    }

    /**
     * Why this schedule cannot take {@code steps} steps on these tables (a message naming the limit), or null when it
     * can: N outside [1, T], or {@link #DDIM} beyond {@link #maxDdimSteps} with the tables' {@code steps_offset}.
     */
    public String stepsProblem(NoiseSchedule ns, int steps) {
        int t = ns.numTrainTimesteps();
        if (steps < 1 || steps > t) {
            return "must be between 1 and " + t + " (num_train_timesteps), got " + steps;
        }
        if (this == DDIM || this == EULER) {
            int max = maxDdimSteps(t, ns.stepsOffset());
            if (steps > max) {
                int first = (steps - 1) * (t / steps) + ns.stepsOffset();
                return "must be at most " + max + " with the " + id + " schedule (steps_offset " + ns.stepsOffset() + "): at "
                        + steps + " steps its first timestep would be " + first + ", past the last trained one (" + (t - 1)
                        + "); use " + max + " steps or another schedule, got " + steps;
            }
        }
        return null;
    }

    /** {@link #DDIM}; refuses N beyond {@link #maxDdimSteps} (see {@link #stepsProblem}). */
    public static SigmaSchedule ddim(NoiseSchedule ns, int steps, int stepsOffset) {
        checkSteps(ns, steps);
        int tMax = ns.numTrainTimesteps() - 1;
        int max = maxDdimSteps(ns.numTrainTimesteps(), stepsOffset);
        if (steps > max) {
            throw new IllegalArgumentException("steps must be at most " + max + " with the ddim schedule (steps_offset "
                    + stepsOffset + "; a timestep past " + tMax + " is not trained), got steps = " + steps);
        }
        int ratio = ns.numTrainTimesteps() / steps;
        int[] ts = new int[steps];
        for (int i = 0; i < steps; i++) {
            int k = steps - 1 - i;
            ts[i] = Math.max(k * ratio + stepsOffset, 0);
        }
        return discrete(ns, ts, ns.finalSigma(), "ddim");
    }

    /** {@link #EULER}; refuses N beyond {@link #maxDdimSteps}, as {@link #ddim} does. */
    public static SigmaSchedule euler(NoiseSchedule ns, int steps, int stepsOffset) {
        double[] t = ddim(ns, steps, stepsOffset).timesteps();
        double[] sig = new double[steps + 1];
        for (int k = 0; k < steps; k++) {
            // torch: ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5 on the float32 table, each operation rounded to float32
            float a = ns.alphaBar((int) t[k]);
            sig[k] = (float) Math.sqrt((1f - a) / a);
        }
        sig[steps] = 0.0;
        return new SigmaSchedule(sig, t, "euler");
    }

    /** {@link #TRAILING}. */
    public static SigmaSchedule trailing(NoiseSchedule ns, int steps) {
        checkSteps(ns, steps);
        int tt = ns.numTrainTimesteps();
        double stride = -(double) tt / steps;
        int[] ts = new int[steps];
        for (int k = 0; k < steps; k++) {
            ts[k] = Math.max(0, (int) Math.rint(tt + k * stride) - 1);
        }
        return discrete(ns, ts, ns.sigma(0), "trailing");
    }

    /**
     * {@link #LOG_LINEAR} with top level {@code sHi} (&gt; 0). If {@code sHi} lies above every trained level
     * the first timestep is T-1; if N = 1, the single timestep is {@code min(T / N, T-1)}.
     */
    public static SigmaSchedule logLinear(NoiseSchedule ns, int steps, double sHi) {
        checkSteps(ns, steps);
        if (!(sHi > 0) || !Double.isFinite(sHi)) {
            throw new IllegalArgumentException("log-linear sHi must be a positive number, got " + sHi);
        }
        int tt = ns.numTrainTimesteps();
        int tLo = Math.min(tt / steps, tt - 1);
        double sLo = ns.sigma(tLo);
        int[] ts = new int[steps];
        double lHi = Math.log(sHi);
        double lLo = Math.log(sLo);
        for (int k = 0; k < steps - 1; k++) {
            double s = Math.exp(lHi + (lLo - lHi) * k / (steps - 1));
            ts[k] = ns.ceilTimestep(s);
        }
        ts[steps - 1] = tLo;
        // keep the order descending even if sHi < sLo (tiny N with unusual sHi): a schedule must not go up
        for (int k = steps - 2; k >= 0; k--) {
            ts[k] = Math.max(ts[k], ts[k + 1]);
        }
        return discrete(ns, ts, ns.sigma(0), "log-linear");
    }

    /** {@link #KARRAS} with the given rho (&gt; 0). N = 1 gives the single level {@code sigma(T-1)}. */
    public static SigmaSchedule karras(NoiseSchedule ns, int steps, double rho) {
        checkSteps(ns, steps);
        double hi = Math.pow(ns.sigmaMax(), 1 / rho);
        double lo = Math.pow(ns.sigmaMin(), 1 / rho);
        double[] sig = new double[steps + 1];
        for (int i = 0; i < steps; i++) {
            double f = steps == 1 ? 0.0 : (double) i / (steps - 1);
            sig[i] = Math.pow(hi + f * (lo - hi), rho);
        }
        sig[0] = ns.sigmaMax();
        if (steps > 1) {
            sig[steps - 1] = ns.sigmaMin();
        }
        sig[steps] = 0.0;
        return continuous(ns, sig, "karras");
    }

    /** {@link #LOG_LINEAR_CONTINUOUS}. */
    public static SigmaSchedule logLinearContinuous(NoiseSchedule ns, int steps) {
        checkSteps(ns, steps);
        double lHi = Math.log(ns.sigmaMax());
        double lLo = Math.log(ns.sigmaMin());
        double[] sig = new double[steps + 1];
        for (int k = 0; k <= steps; k++) {
            sig[k] = Math.exp(lHi + ((double) k / steps) * (lLo - lHi));
        }
        sig[0] = ns.sigmaMax();
        sig[steps] = ns.sigmaMin();
        return continuous(ns, sig, "log-linear-continuous");
    }

    private static SigmaSchedule discrete(NoiseSchedule ns, int[] ts, double finalSigma, String name) {
        double[] sig = new double[ts.length + 1];
        double[] t = new double[ts.length];
        for (int k = 0; k < ts.length; k++) {
            sig[k] = ns.sigma(ts[k]);
            t[k] = ts[k];
        }
        sig[ts.length] = Math.min(finalSigma, sig[ts.length - 1]);
        return new SigmaSchedule(sig, t, name);
    }

    private static SigmaSchedule continuous(NoiseSchedule ns, double[] sig, String name) {
        double[] t = new double[sig.length - 1];
        for (int k = 0; k < t.length; k++) {
            t[k] = ns.timestepOf(sig[k]);
        }
        return new SigmaSchedule(sig, t, name);
    }
}
