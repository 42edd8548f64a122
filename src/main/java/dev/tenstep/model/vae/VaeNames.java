package dev.tenstep.model.vae;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The two weight naming schemes of the VAE mid-block attention found in real Stable Diffusion
 * repos: legacy {@code query/key/value/proj_attn} (e.g. SD1.5) and current
 * {@code to_q/to_k/to_v/to_out.0} (e.g. SD2.1). Source: diffusers
 * {@code modeling_utils._convert_deprecated_attention_blocks}.
 */
public final class VaeNames {
    private static final Pattern LEGACY =
            Pattern.compile("^(.*\\.mid_block\\.attentions\\.\\d+)\\.(query|key|value|proj_attn)\\.(weight|bias)$");
    private static final Pattern CURRENT =
            Pattern.compile("^(.*\\.mid_block\\.attentions\\.\\d+)\\.(to_q|to_k|to_v|to_out\\.0)\\.(weight|bias)$");

    private VaeNames() {
    }

    /**
     * Maps a legacy attention weight name to the current one
     * ({@code query->to_q, key->to_k, value->to_v, proj_attn->to_out.0}); every other name is
     * returned unchanged. Suitable as the alias of {@link dev.tenstep.model.Weights}.
     */
    public static String toCurrent(String name) {
        Matcher m = LEGACY.matcher(name);
        if (!m.matches()) {
            return name;
        }
        String seg = switch (m.group(2)) {
            case "query" -> "to_q";
            case "key" -> "to_k";
            case "value" -> "to_v";
            default -> "to_out.0";
        };
        return m.group(1) + "." + seg + "." + m.group(3);
    }

    /** The inverse of {@link #toCurrent}: current attention names to legacy ones, others unchanged. */
    public static String toLegacy(String name) {
        Matcher m = CURRENT.matcher(name);
        if (!m.matches()) {
            return name;
        }
        String seg = switch (m.group(2)) {
            case "to_q" -> "query";
            case "to_k" -> "key";
            case "to_v" -> "value";
            default -> "proj_attn";
        };
        return m.group(1) + "." + seg + "." + m.group(3);
    }
}
