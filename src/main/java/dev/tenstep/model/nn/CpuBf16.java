package dev.tenstep.model.nn;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * Whether bf16 compute is offered on the CPU, and why not (see docs/performance.md, "bf16 on the
 * CPU"). Decided from the CPU's flags ({@code /proc/cpuinfo}), never assumed.
 *
 * <p>Findings behind the decision: (1) DJL 0.36's PyTorch JNI maps DJL data types to libtorch's
 * by ordinal and knows only float32 .. complex64; {@code DataType.BFLOAT16} reaches a bare C++
 * {@code throw;} with no exception in flight, so {@code std::terminate} aborts the JVM
 * ("terminate called without an active exception"). bf16 tensors can only be made inside libtorch
 * (a TorchScript cast, as {@link FusedAttention} reaches SDPA), and DJL then reports their type as
 * UNKNOWN. (2) Without the {@code avx512_bf16} or {@code amx_bf16} instructions libtorch/oneDNN
 * emulate bf16 through fp32 and run it slower than fp32. (3) With them, bf16 has not been measured
 * on this project's machines, so it is not offered there either; fp32 stays the only CPU dtype.
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
     * Why {@code --dtype bf16} is refused on this CPU: one line for the user, naming what was
     * detected.
     *
     * @param flags the CPU's flags ({@link #cpuFlags()})
     */
    public static String refusal(Set<String> flags) {
        if (!hasNativeBf16(flags)) {
            return "bf16 on the CPU is refused: this CPU has no avx512_bf16/amx_bf16 instructions, so libtorch "
                    + "emulates bf16 and runs it slower than fp32 (see docs/performance.md); use fp32";
        }
        return "bf16 on the CPU is not offered yet: this CPU has " + (flags.contains("amx_bf16") ? "amx_bf16" : "avx512_bf16")
                + ", but DJL 0.36 cannot create bf16 tensors and bf16 speed and image quality are unmeasured "
                + "on such a CPU (see docs/performance.md); use fp32";
    }
}
