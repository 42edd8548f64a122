package dev.tenstep.model.nn;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * Whether this CPU computes bf16 natively (see docs/performance.md, "bf16 on the CPU"): decided from
 * the CPU's flags ({@code /proc/cpuinfo}), never assumed. One of the two conditions of
 * {@code dev.tenstep.pipeline.Bf16Support} (the other: the DJL JNI built with the bf16 patch).
 *
 * <p>Why the flags: without the {@code avx512_bf16} (AVX-512 BF16: Intel Cooper Lake and later, AMD
 * Zen 4 and later) or {@code amx_bf16} (Intel AMX: Xeon 4th generation and later) instructions,
 * libtorch/oneDNN emulate bf16 through fp32 and run it 40x-100x slower than fp32 (measured on a Zen 3,
 * docs/performance.md).
 */
public final class CpuBf16 {
    private CpuBf16() {
    }

    /** The CPU's feature flags (first {@code flags} line of {@code /proc/cpuinfo}); empty if unreadable. */
    public static Set<String> cpuFlags() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("flags")) {
                    return parseFlags(line);
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or no access: no flags known, so no native bf16 is assumed
        }
        return Set.of();
    }

    /** The flags of a {@code /proc/cpuinfo} "flags : a b c" line. */
    static Set<String> parseFlags(String line) {
        int colon = line.indexOf(':');
        String list = colon < 0 ? "" : line.substring(colon + 1).trim().toLowerCase(Locale.ROOT);
        return list.isEmpty() ? Set.of() : new TreeSet<>(Arrays.asList(list.split("\\s+")));
    }

    /** Whether the CPU has bf16 arithmetic instructions ({@code avx512_bf16} or {@code amx_bf16}). */
    public static boolean hasNativeBf16(Set<String> flags) {
        return flags.contains("avx512_bf16") || flags.contains("amx_bf16");
    }

    /**
     * Why {@code --dtype bf16} is refused on this CPU, one line for the user, or null when the CPU has
     * bf16 instructions ({@link #hasNativeBf16}).
     *
     * @param flags the CPU's flags ({@link #cpuFlags()})
     */
    public static String refusal(Set<String> flags) {
        if (!hasNativeBf16(flags)) {
            return "bf16 on the CPU is refused: this CPU has no avx512_bf16/amx_bf16 instructions, so libtorch "
                    + "emulates bf16 and runs it slower than fp32 (see docs/performance.md); use fp32";
        }
        return null;
    }
}
