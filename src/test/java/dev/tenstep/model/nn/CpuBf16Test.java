package dev.tenstep.model.nn;

import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Detection of bf16 instructions from /proc/cpuinfo flags, and the refusal texts. */
class CpuBf16Test {
    @Test
    void parsesFlagsLine() {
        assertEquals(Set.of("fpu", "avx2", "avx512_bf16"), CpuBf16.parseFlags("flags\t\t: fpu avx2  avx512_bf16\n"));
        assertEquals(Set.of(), CpuBf16.parseFlags("flags\t\t:"));
    }

    @Test
    void nativeBf16OnlyWithTheInstructions() {
        // an AMD EPYC Zen 3 (the first development machine): AVX2 and FMA, no AVX-512 at all
        Set<String> zen3 = CpuBf16.parseFlags("flags : fpu sse2 avx fma avx2 f16c vaes vpclmulqdq");
        assertFalse(CpuBf16.hasNativeBf16(zen3));
        assertFalse(CpuBf16.hasNativeBf16(Set.of("avx512f", "avx512bw")), "AVX-512 without bf16");
        assertTrue(CpuBf16.hasNativeBf16(Set.of("avx512f", "avx512_bf16")));
        assertTrue(CpuBf16.hasNativeBf16(Set.of("amx_bf16", "amx_tile")));
        assertTrue(CpuBf16.refusal(zen3).contains("no avx512_bf16/amx_bf16"), CpuBf16.refusal(zen3));
        assertNull(CpuBf16.refusal(Set.of("avx512f", "avx512_bf16")), "Zen 4, Cooper Lake: native bf16");
        assertNull(CpuBf16.refusal(Set.of("amx_bf16")), "AMX: native bf16");
    }

    @Test
    void thisMachinesFlagsAreRead() {
        Set<String> flags = CpuBf16.cpuFlags();
        assertTrue(flags.contains("sse2"), "every x86-64 CPU lists sse2: " + flags);
    }
}
