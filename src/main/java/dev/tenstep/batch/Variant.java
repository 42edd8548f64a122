package dev.tenstep.batch;

import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;

/**
 * A column of a batch: sampler, schedule and (optionally) gamma, as in
 * {@code --compare ddim:ddim,ge:log-linear,ge:log-linear:2.5}.
 *
 * @param sampler  the sampler
 * @param schedule the sigma schedule (never null)
 * @param gamma    gradient-estimation weight (GE only); null = the sampler's default
 */
public record Variant(SamplerKind sampler, ScheduleKind schedule, Double gamma) {

    /** The variant a request asks for by itself (no {@code --compare}). */
    public static Variant of(GenerationRequest r) {
        return new Variant(r.sampler(), r.schedule() != null ? r.schedule() : r.sampler().defaultSchedule(), r.gamma());
    }

    /**
     * Parses {@code sampler[:schedule[:gamma]],...}; a missing schedule is the sampler's default.
     *
     * @throws IllegalArgumentException naming the bad item and the valid values
     */
    public static List<Variant> parseList(String spec) {
        List<Variant> out = new ArrayList<>();
        LinkedHashSet<String> seen = new LinkedHashSet<>();
        for (String item : spec.split(",")) {
            String it = item.trim();
            if (it.isEmpty()) {
                continue;
            }
            String[] parts = it.split(":", -1);
            if (parts.length > 3) {
                throw new IllegalArgumentException("'" + it + "': expected sampler[:schedule[:gamma]]");
            }
            SamplerKind sampler;
            ScheduleKind schedule;
            try {
                sampler = SamplerKind.byName(parts[0]);
                schedule = parts.length > 1 && !parts[1].isBlank() ? ScheduleKind.byName(parts[1]) : sampler.defaultSchedule();
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("'" + it + "': " + e.getMessage());
            }
            Double gamma = null;
            if (parts.length > 2) {
                if (!sampler.hasGamma()) {
                    throw new IllegalArgumentException("'" + it + "': " + sampler.displayName()
                            + " has no gradient-estimation weight gamma");
                }
                try {
                    gamma = Double.valueOf(parts[2].trim());
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("'" + it + "': gamma '" + parts[2] + "' is not a number");
                }
            }
            Variant v = new Variant(sampler, schedule, gamma);
            if (!seen.add(v.label())) {
                throw new IllegalArgumentException("'" + it + "' is listed twice");
            }
            out.add(v);
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("no sampler listed");
        }
        return out;
    }

    /** The gamma actually used; null for a sampler without gamma (all but GE). */
    public Double resolvedGamma() {
        return gamma != null ? gamma : sampler.hasGamma() ? sampler.defaultGamma().getAsDouble() : null;
    }

    /** {@code sampler:schedule}, plus {@code :gamma} when it is not the sampler's default. */
    public String label() {
        String l = sampler.id() + ":" + schedule.id();
        if (gamma != null && gamma != sampler.defaultGamma().orElse(Double.NaN)) {
            double g = gamma;
            l += ":" + (g == Math.rint(g) ? Long.toString((long) g) : Double.toString(g));
        }
        return l;
    }

    /** The label as a file-name part, e.g. {@code ge-log-linear}. */
    public String slug() {
        return label().replace(':', '-').replaceAll("[^A-Za-z0-9._-]", "_");
    }

    /** {@code r} rendered with this variant's sampler, schedule and gamma. */
    public GenerationRequest apply(GenerationRequest r) {
        return new GenerationRequest(r.prompt(), r.negativePrompt(), r.steps(), r.cfgScale(), r.seed(), sampler,
                schedule, gamma, r.width(), r.height(), r.promptSyntax(), r.clipSkip(), r.rng(), r.img2img(), r.hires(),
                r.micro());
    }
}
