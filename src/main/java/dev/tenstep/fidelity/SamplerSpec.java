package dev.tenstep.fidelity;

import dev.tenstep.sampling.LatentSampler;
import dev.tenstep.sampling.NoiseSchedule;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;
import dev.tenstep.sampling.SigmaSchedule;


/**
 * A deterministic sampler and the schedule it runs on, written {@code SAMPLER:SCHEDULE} (e.g.
 * {@code ge:log-linear}, {@code dpmpp-2m:karras}); {@code SAMPLER} alone takes its default schedule (ddim:
 * ddim, ge: log-linear, dpmpp-2m: karras). Names are parsed by {@link SamplerKind#byName} and
 * {@link ScheduleKind#byName} and stored as their ids.
 *
 * @param sampler  {@code ddim}, {@code ge} or {@code dpmpp-2m}
 * @param schedule a {@link ScheduleKind} name
 */
public record SamplerSpec(String sampler, String schedule) {
    /** The name of DPM-Solver++(2M). */
    public static final String DPMPP_2M = "dpmpp-2m";

    /**
     * @throws IllegalArgumentException naming the problem: unknown sampler or schedule, or a stochastic sampler
     *                                  (ddpm: its distance to an ODE solution measures its noise, not its error)
     */
    public SamplerSpec {
        SamplerKind k = SamplerKind.byName(sampler);
        if (k.sampler().stochastic()) {
            throw new IllegalArgumentException("sampler '" + sampler + "' is stochastic; a fidelity study measures "
                    + "deterministic solvers of the probability-flow ODE (ddim, ge, " + DPMPP_2M + ")");
        }
        sampler = k.id();
        schedule = ScheduleKind.byName(schedule).id();
    }

    /**
     * Parses {@code SAMPLER[:SCHEDULE]}.
     *
     * @throws IllegalArgumentException for an unknown or stochastic sampler or an unknown schedule
     */
    public static SamplerSpec parse(String text) {
        String t = text.trim();
        int colon = t.indexOf(':');
        String s = colon < 0 ? t : t.substring(0, colon);
        String sch = colon < 0 ? defaultSchedule(s) : t.substring(colon + 1);
        return new SamplerSpec(s, sch);
    }

    /** The default schedule of a sampler name ({@link SamplerKind#defaultSchedule}). */
    public static String defaultSchedule(String sampler) {
        return SamplerKind.byName(sampler).defaultSchedule().id();
    }

    /** The sampling method. */
    public LatentSampler method() {
        return SamplerKind.byName(sampler).sampler();
    }

    /** The schedule of N steps on a training table. */
    public SigmaSchedule schedule(NoiseSchedule ns, int steps) {
        return ScheduleKind.byName(schedule).build(ns, steps);
    }

    /** {@code SAMPLER:SCHEDULE}. */
    public String label() {
        return sampler + ":" + schedule;
    }

    @Override
    public String toString() {
        return label();
    }
}
