package dev.tenstep.pipeline;

import ai.djl.Device;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --device}/{@code --dtype}/{@code --vae-dtype} resolution against what the engine reports. */
class ComputeSpecTest {
    private static final Accelerators NONE = Accelerators.fixed(0, "no usable CUDA GPU: test");
    private static final Accelerators TWO = Accelerators.fixed(2, "unused");

    @Test
    void autoIsTheCpuInFp32WithoutAGpu() {
        ComputeSpec c = ComputeSpec.resolve("auto", "auto", "auto", NONE);
        assertEquals(ComputeSpec.CPU, c);
        assertTrue(c.isCpuDefault());
        assertEquals(Map.of(), c.infotextFields());
        assertEquals("cpu fp32", c.label());
    }

    @Test
    void autoIsCudaZeroInFp16WithAnFp32VaeOnAGpu() {
        ComputeSpec c = ComputeSpec.resolve(null, null, null, TWO);
        assertEquals(Device.gpu(0), c.device());
        assertEquals(ComputeSpec.Precision.FP16, c.dtype());
        assertEquals(ComputeSpec.Precision.FP32, c.vaeDtype());
        assertEquals("{Device=cuda:0, Dtype=fp16}", c.infotextFields().toString());
        assertEquals("cuda:0 fp16 (VAE fp32)", c.label());
        ComputeSpec d = ComputeSpec.resolve("cuda:1", "fp32", "auto", TWO);
        assertEquals(Device.gpu(1), d.device());
        assertEquals("{Device=cuda:1, Dtype=fp32}", d.infotextFields().toString());
        assertEquals("{Device=cuda:0, Dtype=fp16, VAE dtype=fp16}",
                ComputeSpec.resolve("CUDA", "half", "fp16", TWO).infotextFields().toString());
    }

    @Test
    void cudaWithoutAGpuIsOneLineNamingTheOption() {
        DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class,
                () -> ComputeSpec.resolve("cuda", "auto", "auto", NONE));
        assertEquals("--device cuda: no usable CUDA GPU: test", e.getMessage());
        e = assertThrows(DeviceUnavailableException.class, () -> ComputeSpec.resolve("cuda:2", "auto", "auto", TWO));
        assertEquals("--device cuda:2: DJL's PyTorch engine sees 2 CUDA GPU(s), numbered 0..1", e.getMessage());
    }

    @Test
    void halfPrecisionOnTheCpuIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ComputeSpec.resolve("cpu", "fp16", "auto", TWO));
        assertTrue(e.getMessage().startsWith("--dtype fp16: fp16 on the CPU is refused: "), e.getMessage());
        assertTrue(e.getMessage().contains("250x"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ComputeSpec.resolve("auto", "fp32", "fp16", NONE));
        assertTrue(e.getMessage().startsWith("--vae-dtype fp16: fp16 on the CPU is refused"), e.getMessage());
    }

    private static final DjlJni DJL_OWN = new DjlJni(java.nio.file.Path.of("/x/0.36.0-cpu-libdjl_torch.so"), false,
            "the loaded JNI /x/0.36.0-cpu-libdjl_torch.so has no tenstep-djl-jni.properties beside it", Map.of());
    private static final DjlJni PATCHED = new DjlJni(java.nio.file.Path.of("/y/0.36.0-libdjl_torch.so"), true, null,
            Map.of("bf16_patch", "yes"));
    private static final java.util.Set<String> ZEN3 = java.util.Set.of("sse2", "avx2", "fma");
    private static final java.util.Set<String> ZEN4 = java.util.Set.of("sse2", "avx2", "avx512f", "avx512_bf16");
    private static final java.util.Set<String> SAPPHIRE_RAPIDS = java.util.Set.of("avx512f", "amx_tile", "amx_bf16");

    /** DJL 0.36.0's own JNI: bf16 refused on CUDA and on a bf16 CPU alike, with the abort it would cause. */
    @Test
    void bf16IsRefusedWithDjlsOwnJni() {
        for (String device : new String[] {"cuda", "cpu"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ComputeSpec.resolve(device, "bf16", "auto", TWO, Bf16Support.of(DJL_OWN, ZEN4)));
            assertTrue(e.getMessage().startsWith("--dtype bf16 is refused: DJL 0.36.0's PyTorch JNI has no mapping"),
                    e.getMessage());
            assertTrue(e.getMessage().contains("terminate called without an active exception"), e.getMessage());
            assertTrue(e.getMessage().contains("has no tenstep-djl-jni.properties beside it"), e.getMessage());
            assertTrue(e.getMessage().contains("scripts/build-djl-jni.sh"), e.getMessage());
            assertTrue(!e.getMessage().contains("\n"), "one line");
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ComputeSpec.resolve("cuda", "fp16", "bf16", TWO, Bf16Support.of(DJL_OWN, ZEN4)));
        assertTrue(e.getMessage().startsWith("--vae-dtype bf16 is refused: "), e.getMessage());
    }

    /** The patched JNI: bf16 on CUDA, and on CPUs with avx512_bf16 or amx_bf16; refused with the CPU's reason elsewhere. */
    @Test
    void bf16WithThePatchedJniRunsOnCudaAndOnBf16Cpus() {
        ComputeSpec c = ComputeSpec.resolve("cuda", "bf16", "auto", TWO, Bf16Support.of(PATCHED, ZEN3));
        assertEquals(ComputeSpec.Precision.BF16, c.dtype());
        assertEquals(ComputeSpec.Precision.FP32, c.vaeDtype(), "VAE auto is fp32 under half precision");
        for (java.util.Set<String> flags : java.util.List.of(ZEN4, SAPPHIRE_RAPIDS)) {
            ComputeSpec cpu = ComputeSpec.resolve("cpu", "bf16", "bf16", NONE, Bf16Support.of(PATCHED, flags));
            assertEquals(new ComputeSpec(Device.cpu(), ComputeSpec.Precision.BF16, ComputeSpec.Precision.BF16), cpu);
            assertEquals("cpu bf16", cpu.label());
            assertEquals("{Device=cpu, Dtype=bf16, VAE dtype=bf16}", cpu.infotextFields().toString());
            assertEquals("cpu fp32 (VAE bf16)",
                    ComputeSpec.resolve("cpu", "fp32", "bf16", NONE, Bf16Support.of(PATCHED, flags)).label());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ComputeSpec.resolve("cpu", "bf16", "auto", NONE, Bf16Support.of(PATCHED, ZEN3)));
        assertEquals("--dtype bf16: " + dev.tenstep.model.nn.CpuBf16.refusal(ZEN3), e.getMessage());
        assertTrue(e.getMessage().contains("no avx512_bf16/amx_bf16 instructions"), e.getMessage());
    }

    /** {@code auto} never picks bf16: fp32 on the CPU even with the patched JNI and AMX; fp16 stays refused there. */
    @Test
    void autoStaysFp32OnABf16Cpu() {
        Bf16Support all = Bf16Support.of(PATCHED, SAPPHIRE_RAPIDS);
        assertEquals(ComputeSpec.CPU, ComputeSpec.resolve("auto", "auto", "auto", NONE, all));
        assertEquals(ComputeSpec.Precision.FP16, ComputeSpec.resolve("auto", "auto", "auto", TWO, all).dtype());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ComputeSpec.resolve("cpu", "fp16", "auto", NONE, all));
        assertTrue(e.getMessage().startsWith("--dtype fp16: fp16 on the CPU is refused: "), e.getMessage());
    }

    /** Without --attention-slice: fused, except bf16 on a CPU without AMX, where query slices (measured 10x faster). */
    @Test
    void bf16OnACpuWithoutAmxDefaultsToQuerySlices() {
        dev.tenstep.model.nn.AttentionSettings fused = dev.tenstep.model.nn.AttentionSettings.parse("fused", 64);
        ComputeSpec cpuBf16 = new ComputeSpec(Device.cpu(), ComputeSpec.Precision.BF16, ComputeSpec.Precision.FP32);
        dev.tenstep.model.nn.AttentionSettings zen4 = ComputeSpec.defaultAttention(cpuBf16, fused, ZEN4);
        assertEquals(dev.tenstep.model.nn.AttentionSettings.parse("auto", 64), zen4);
        assertEquals(64L << 20, zen4.budgetBytes());
        assertEquals(fused, ComputeSpec.defaultAttention(cpuBf16, fused, SAPPHIRE_RAPIDS), "AMX: the fused kernel");
        ComputeSpec vaeOnly = new ComputeSpec(Device.cpu(), ComputeSpec.Precision.FP32, ComputeSpec.Precision.BF16);
        assertEquals(dev.tenstep.model.nn.AttentionSettings.parse("auto", 64), ComputeSpec.defaultAttention(vaeOnly, fused, ZEN4));
        assertEquals(fused, ComputeSpec.defaultAttention(ComputeSpec.CPU, fused, ZEN4), "fp32: unchanged");
        assertEquals(fused, ComputeSpec.defaultAttention(
                new ComputeSpec(Device.gpu(0), ComputeSpec.Precision.BF16, ComputeSpec.Precision.BF16), fused, ZEN4), "CUDA");
    }

    /** This process (the default suite): DJL's own JNI, whatever the CPU, so bf16 is refused, never an abort. */
    @Test
    void theTestEngineRefusesBf16() {
        DjlJni jni = DjlJni.loaded();
        assertTrue(jni.library() != null && jni.library().getFileName().toString().endsWith("libdjl_torch.so"),
                String.valueOf(jni.library()));
        assertTrue(!jni.patched(), jni.toString());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ComputeSpec.resolve("cpu", "bf16", "auto", NONE));
        assertEquals("--dtype " + Bf16Support.of(jni, dev.tenstep.model.nn.CpuBf16.cpuFlags()).whyNot(Device.cpu()),
                e.getMessage());
    }

    @Test
    void malformedValuesNameTheOption() {
        assertEquals("--device must be auto, cpu, cuda or cuda:N, got 'tpu'", assertThrows(IllegalArgumentException.class,
                () -> ComputeSpec.resolve("tpu", "auto", "auto", TWO)).getMessage());
        assertEquals("--dtype must be auto, fp32, fp16 or bf16, got 'fp8'", assertThrows(IllegalArgumentException.class,
                () -> ComputeSpec.resolve("cpu", "fp8", "auto", TWO)).getMessage());
    }

    /** Infotexts name device and dtype, except for the CPU fp32 default, whose infotexts stay byte-identical. */
    @Test
    void infotextNamesDeviceAndDtypeOffTheCpuDefault() {
        ResolvedRequest r = new GenerationRequest("a cat", "", 10, 7.5, 42, dev.tenstep.sampling.SamplerKind.GE, null,
                null, 512, 512).resolved(42, 512, 512, ModelDefaults.SD);
        String plain = "a cat\nSteps: 10, Sampler: GE, Schedule type: log-linear, CFG scale: 7.5, Seed: 42, Size: 512x512, Model: sd15";
        assertEquals(plain, Infotext.format(r, "sd15"));
        assertEquals(plain, Infotext.format(r, "sd15", null, ComputeSpec.CPU));
        assertEquals(plain + ", Device: \"cuda:0\", Dtype: fp16",
                Infotext.format(r, "sd15", null, ComputeSpec.resolve("auto", "auto", "auto", TWO)));
    }

    /** The engine of this build: DJL's CPU natives, so no GPU, and the reason names the libtorch it loaded. */
    @Test
    void theCpuEngineHasNoUsableGpuAndSaysWhichLibtorchItLoaded() {
        Accelerators djl = Accelerators.djl();
        assertEquals(0, djl.usableGpus());
        String why = djl.whyNoGpu();
        assertTrue(why.startsWith("no usable CUDA GPU: DJL's PyTorch engine loaded libtorch 2.7.1 from "), why);
        assertTrue(why.contains("a build without CUDA (the CPU natives of pytorch-native-cpu)"), why);
        assertTrue(why.contains("--torch-home DIR or PYTORCH_LIBRARY_PATH=DIR (see docs/gpu.md)"), why);
        assertEquals(ComputeSpec.CPU, ComputeSpec.resolve("auto", "auto", "auto", djl));
    }

    /** The attention setting travels with the compute settings; it changes no picture, so no label or infotext. */
    @Test
    void carriesTheAttentionSetting() {
        assertEquals(dev.tenstep.model.nn.AttentionSettings.DEFAULT, ComputeSpec.CPU.attention());
        dev.tenstep.model.nn.AttentionSettings sliced = dev.tenstep.model.nn.AttentionSettings.parse("7", 0);
        ComputeSpec s = ComputeSpec.CPU.withAttention(sliced);
        assertEquals(sliced, s.attention());
        assertEquals(ComputeSpec.CPU.label(), s.label());
        assertEquals(Map.of(), s.infotextFields());
        assertEquals(dev.tenstep.model.nn.AttentionSettings.DEFAULT,
                new ComputeSpec(Device.cpu(), ComputeSpec.Precision.FP32, ComputeSpec.Precision.FP32, null).attention());
    }
}
