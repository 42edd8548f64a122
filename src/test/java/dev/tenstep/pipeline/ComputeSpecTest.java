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
        e = assertThrows(IllegalArgumentException.class, () -> ComputeSpec.resolve("cpu", "bf16", "auto", NONE));
        assertEquals("--dtype bf16: " + dev.tenstep.model.nn.CpuBf16.refusal(dev.tenstep.model.nn.CpuBf16.cpuFlags()),
                e.getMessage());
    }

    @Test
    void bf16IsRefusedWithTheReason() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ComputeSpec.resolve("cuda", "bf16", "auto", TWO));
        assertTrue(e.getMessage().startsWith("--dtype bf16 is refused: "), e.getMessage());
        assertTrue(e.getMessage().contains("terminate called without an active exception"), e.getMessage());
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
