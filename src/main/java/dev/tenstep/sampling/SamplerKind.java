package dev.tenstep.sampling;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** The sampler presets of SAMPLERS.md section 3. */
public enum SamplerKind {
    /** DDIM (eta 0): gamma 1, mu 0. */
    DDIM("ddim", 1.0, 0.0),
    /** Gradient estimation (Permenter and Yuan 2024, Algorithm 2): gamma 2, mu 0. */
    GE("ge", 2.0, 0.0),
    /** DDPM-like stochastic sampler: gamma 1, mu 0.5. */
    DDPM("ddpm", 1.0, 0.5);

    private final String id;
    private final double gamma;
    private final double mu;

    SamplerKind(String id, double gamma, double mu) {
        this.id = id;
        this.gamma = gamma;
        this.mu = mu;
    }

    /** The name: {@code ddim}, {@code ge} or {@code ddpm}. */
    public String id() {
        return id;
    }

    public double gamma() {
        return gamma;
    }

    public double mu() {
        return mu;
    }

    /** A sampler with this preset's parameters. */
    public Sampler sampler() {
        return new Sampler(gamma, mu);
    }

    /**
     * Case-insensitive lookup.
     *
     * @throws IllegalArgumentException listing the known names
     */
    public static SamplerKind byName(String name) {
        String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        for (SamplerKind k : values()) {
            if (k.id.equals(n)) {
                return k;
            }
        }
        throw new IllegalArgumentException("unknown sampler '" + name + "'; known: "
                + Arrays.stream(values()).map(SamplerKind::id).collect(Collectors.joining(", ")));
    }
}
