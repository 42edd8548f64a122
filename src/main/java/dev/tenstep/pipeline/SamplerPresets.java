package dev.tenstep.pipeline;

import java.util.List;

/**
 * User-facing sampler names and their presets (SAMPLERS.md section 3): {@code ddim} (gamma 1, mu 0,
 * default schedule {@code ddim}), {@code ge} (gradient estimation, gamma 2, mu 0, default
 * {@code log-linear}, Permenter and Yuan 2024 Algorithm 2), {@code ddpm} (gamma 1, mu 0.5, default
 * {@code trailing}).
 */
public final class SamplerPresets {
    public static final List<String> NAMES = List.of("ddim", "ge", "ddpm");
    public static final List<String> SCHEDULES = List.of("ddim", "trailing", "log-linear", "karras", "log-linear-continuous");

    private SamplerPresets() {
    }

    public static double gamma(String sampler) {
        return sampler.equals("ge") ? 2.0 : 1.0;
    }

    public static double mu(String sampler) {
        return sampler.equals("ddpm") ? 0.5 : 0.0;
    }

    public static String defaultSchedule(String sampler) {
        switch (sampler) {
            case "ge": return "log-linear";
            case "ddpm": return "trailing";
            default: return "ddim";
        }
    }

    /** The name shown in infotexts and UIs (A1111 style). */
    public static String displayName(String sampler) {
        switch (sampler) {
            case "ge": return "GE";
            case "ddpm": return "DDPM";
            default: return "DDIM";
        }
    }

    /** Parses a display or CLI name ("DDIM", "ge", "Gradient Estimation"...); null if unknown. */
    public static String parse(String name) {
        if (name == null) {
            return null;
        }
        String n = name.trim().toLowerCase(java.util.Locale.ROOT);
        if (n.startsWith("gradient") || n.equals("ge") || n.equals("euler_ge")) {
            return "ge";
        }
        return NAMES.contains(n) ? n : null;
    }
}
