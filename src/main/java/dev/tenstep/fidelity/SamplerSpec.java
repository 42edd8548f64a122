package dev.tenstep.fidelity;

import dev.tenstep.sampling.LatentSampler;
import dev.tenstep.sampling.NoiseSchedule;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;
import dev.tenstep.sampling.SigmaSchedule;


/**
 * A deterministic sampler and the schedule it runs on, written {@code SAMPLER:SCHEDULE} (e.g.
 * {@code ge:log-linear}, {@code dpmpp-2m:karras}); {@code SAMPLER} alone takes its default schedule (ddim:
 * ddim, ge: log-linear, dpmpp-2m: karras). A sampler with a gradient-estimation weight (GE) may add
 * {@code :GAMMA}, e.g. {@code ge:log-linear:1.5}, as {@code batch --compare} writes it (paper eq. (12): {@code epsBar = gamma eps + (1 - gamma) epsPrev};
 * gamma 1 is DDIM, 2 the paper's GE). Names are parsed by {@link SamplerKind#byName} and
 * {@link ScheduleKind#byName} and stored as their ids.
 *
 * @param sampler  {@code ddim}, {@code ge} or {@code dpmpp-2m}
 * @param schedule a {@link ScheduleKind} name
 * @param gamma    GE's weight in [{@value SamplerKind#MIN_GAMMA}, {@value SamplerKind#MAX_GAMMA}], or null for the
 *                 sampler's default
 */
public record SamplerSpec(String sampler, String schedule, Double gamma) {
    /** The name of DPM-Solver++(2M). */
    public static final String DPMPP_2M = "dpmpp-2m";

    /**
     * @throws IllegalArgumentException naming the problem: unknown sampler or schedule, a gamma the sampler does not
     *                                  take or out of range, or a stochastic sampler
     *                                  (ddpm: its distance to an ODE solution measures its noise, not its error)
     */
    public SamplerSpec {
        SamplerKind k = SamplerKind.byName(sampler);
        if (gamma != null) {
            k.sampler(gamma); // refuses a gamma out of range or for a sampler without one, naming it
        }
        if (k.sampler().stochastic()) {
            throw new IllegalArgumentException("sampler '" + sampler + "' is stochastic; a fidelity study measures "
                    + "deterministic solvers of the probability-flow ODE (ddim, ge, " + DPMPP_2M + ")");
        }
        sampler = k.id();
        schedule = ScheduleKind.byName(schedule).id();
    }

    /** A sampler on a schedule with its default gamma. */
    public SamplerSpec(String sampler, String schedule) {
        this(sampler, schedule, null);
    }

    /**
     * Parses {@code SAMPLER[:SCHEDULE[:GAMMA]]}.
     *
     * @throws IllegalArgumentException for an unknown or stochastic sampler, an unknown schedule, or a gamma that is
     *                                  not a number, out of range or given to a sampler without one
     */
    public static SamplerSpec parse(String text) {
        String[] parts = text.trim().split(":", -1);
        if (parts.length > 3) {
            throw new IllegalArgumentException("'" + text + "': expected SAMPLER[:SCHEDULE[:GAMMA]]");
        }
        String s = parts[0];
        String sch = parts.length < 2 ? defaultSchedule(s) : parts[1];
        Double gamma = null;
        if (parts.length == 3) {
            try {
                gamma = Double.valueOf(parts[2].trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("'" + text + "': gamma must be a number, got '" + parts[2] + "'");
            }
        }
        return new SamplerSpec(s, sch, gamma);
    }

    /** The default schedule of a sampler name ({@link SamplerKind#defaultSchedule}). */
    public static String defaultSchedule(String sampler) {
        return SamplerKind.byName(sampler).defaultSchedule().id();
    }

    /** The sampling method. */
    public LatentSampler method() {
        return SamplerKind.byName(sampler).sampler(gamma);
    }

    /** The schedule of N steps on a training table. */
    public SigmaSchedule schedule(NoiseSchedule ns, int steps) {
        return ScheduleKind.byName(schedule).build(ns, steps);
    }

    /** {@code SAMPLER:SCHEDULE}, with {@code :GAMMA} when a gamma was given. */
    public String label() {
        return sampler + ":" + schedule + (gamma == null ? "" : ":" + gamma);
    }

    @Override
    public String toString() {
        return label();
    }
}
