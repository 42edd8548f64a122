package dev.tenstep.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import dev.tenstep.model.nn.AttentionSettings;
import dev.tenstep.model.nn.CpuBf16;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Where and in which precision a pipeline computes: the device every weight and intermediate lives
 * on, the compute dtype of the text encoder and UNet, and the dtype of the VAE.
 *
 * <p>Resolved from the {@code --device auto|cpu|cuda|cuda:N}, {@code --dtype auto|fp32|fp16|bf16}
 * and {@code --vae-dtype auto|fp32|fp16|bf16} options against what DJL's PyTorch engine reports
 * ({@link Accelerators}): {@code auto} is CUDA device 0 when the engine has CUDA and sees a GPU,
 * else the CPU; dtype {@code auto} is fp16 on CUDA and fp32 on the CPU (bf16 only when asked for, and only
 * where {@link Bf16Support} allows it: the patched DJL JNI, and CUDA or a CPU with bf16 instructions); VAE dtype {@code auto} is
 * fp32 whenever the compute dtype is half (the SD VAE overflows to NaN in fp16, as every GPU runner
 * knows), else the compute dtype. The sampler state (latents, sigmas) is always fp32.
 *
 * <p>It also carries how attention is computed ({@code --attention-slice}, {@link AttentionSettings}): an
 * inference setting that changes memory and speed, never the picture, so it is not part of the infotext or the
 * label. A pipeline applies it around its own model calls; no adapter sets a process-wide value.
 *
 * @param device    the DJL device (CPU or GPU n)
 * @param dtype     compute dtype of the text encoder and the UNet
 * @param vaeDtype  dtype of the VAE decoder (and encoder)
 * @param attention how attention is computed (fused kernel or query slices); null = {@link AttentionSettings#DEFAULT}
 */
public record ComputeSpec(Device device, Precision dtype, Precision vaeDtype, AttentionSettings attention) {
    /** The CPU in fp32: the default of every machine without a usable GPU, and the tests' setting. */
    public static final ComputeSpec CPU = new ComputeSpec(Device.cpu(), Precision.FP32, Precision.FP32);

    public ComputeSpec {
        attention = attention == null ? AttentionSettings.DEFAULT : attention;
    }

    /** With the default attention ({@link AttentionSettings#DEFAULT}, the fused kernel). */
    public ComputeSpec(Device device, Precision dtype, Precision vaeDtype) {
        this(device, dtype, vaeDtype, AttentionSettings.DEFAULT);
    }

    /**
     * The attention computation when none was asked for: {@code fused} (libtorch's SDPA kernel), except for bf16
     * (UNet or VAE) on a CPU without {@code amx_bf16}, where query slices ({@code auto}, {@code fused}'s budget).
     * Why: on an AMD EPYC Zen 4 (avx512_bf16, no AMX) with libtorch 2.14.1 the fused kernel in bf16 took 6.4 s of
     * a 15.2 s SD 1.5 UNet step at 256 px and query slices 1.5 s (at 512 px: 68 s against 5.8 s per step),
     * while on an AMX Xeon the fused bf16 kernel is the fast one (docs/performance.md, "bf16 on the CPU").
     *
     * @param spec     the resolved device and dtypes
     * @param fused    the fused setting with the budget asked for ({@code --attention-budget})
     * @param cpuFlags the CPU's flags ({@link CpuBf16#cpuFlags()})
     */
    public static AttentionSettings defaultAttention(ComputeSpec spec, AttentionSettings fused, java.util.Set<String> cpuFlags) {
        boolean bf16 = spec.dtype() == Precision.BF16 || spec.vaeDtype() == Precision.BF16;
        if (bf16 && !spec.device().isGpu() && !cpuFlags.contains("amx_bf16")) {
            return new AttentionSettings(false, AttentionSettings.AUTO_ROWS, fused.budgetBytes());
        }
        return fused;
    }

    /** This setting with another attention computation. */
    public ComputeSpec withAttention(AttentionSettings a) {
        return new ComputeSpec(device, dtype, vaeDtype, a);
    }

    /** A floating-point precision of weights and activations. */
    public enum Precision {
        FP32("fp32", DataType.FLOAT32),
        FP16("fp16", DataType.FLOAT16),
        BF16("bf16", DataType.BFLOAT16);

        private final String id;
        private final DataType dataType;

        Precision(String id, DataType dataType) {
            this.id = id;
            this.dataType = dataType;
        }

        /** {@code fp32}, {@code fp16}, {@code bf16}: the option value and the infotext name. */
        public String id() {
            return id;
        }

        public DataType dataType() {
            return dataType;
        }

        public boolean isHalf() {
            return this != FP32;
        }

        /**
         * @param name {@code fp32|float32|fp16|float16|half|bf16|bfloat16}, any case
         * @throws IllegalArgumentException naming the accepted values
         */
        public static Precision byName(String name) {
            switch (name.trim().toLowerCase(Locale.ROOT)) {
                case "fp32": case "float32": return FP32;
                case "fp16": case "float16": case "half": return FP16;
                case "bf16": case "bfloat16": return BF16;
                default: throw new IllegalArgumentException("must be auto, fp32, fp16 or bf16, got '" + name + "'");
            }
        }
    }

    /** Why fp16 is refused on the CPU. */
    static String fp16OnCpu(String option) {
        return option + " fp16: fp16 on the CPU is refused: libtorch has no fast fp16 CPU kernels (~250x slower than "
                + "fp32); use " + option + " fp32 (the CPU default) or a CUDA device (--device cuda)";
    }

    /**
     * Resolves the three option values.
     *
     * @param device   {@code auto}, {@code cpu}, {@code cuda}, {@code cuda:N} (also {@code gpu}, {@code gpu:N})
     * @param dtype    {@code auto}, {@code fp32}, {@code fp16}, {@code bf16}
     * @param vaeDtype {@code auto} or a dtype
     * @param gpus     what the engine reports
     * @throws IllegalArgumentException naming the option for a malformed value or a refused dtype
     * @throws DeviceUnavailableException for a CUDA device the engine cannot use (one line: which
     *                                    library was loaded, what to set)
     */
    public static ComputeSpec resolve(String device, String dtype, String vaeDtype, Accelerators gpus) {
        return resolve(device, dtype, vaeDtype, gpus, Bf16Support.loaded());
    }

    /**
     * As {@link #resolve(String, String, String, Accelerators)}, with bf16 decided by {@code bf16} (tests; the
     * other form asks the loaded JNI and this CPU, {@link Bf16Support#loaded}). {@code auto} never picks bf16:
     * fp16 on CUDA, fp32 on the CPU, whatever the CPU has.
     *
     * @throws IllegalArgumentException also for bf16 where {@code bf16} refuses it, with its reason
     */
    public static ComputeSpec resolve(String device, String dtype, String vaeDtype, Accelerators gpus, Bf16Support bf16) {
        Device d = resolveDevice(device == null ? "auto" : device, gpus);
        boolean cuda = d.isGpu();
        Precision compute = isAuto(dtype) ? (cuda ? Precision.FP16 : Precision.FP32) : parse("--dtype", dtype);
        Precision vae = isAuto(vaeDtype) ? (compute.isHalf() ? Precision.FP32 : compute) : parse("--vae-dtype", vaeDtype);
        check("--dtype", compute, d, bf16);
        check("--vae-dtype", vae, d, bf16);
        return new ComputeSpec(d, compute, vae);
    }

    private static boolean isAuto(String v) {
        return v == null || v.isBlank() || v.trim().equalsIgnoreCase("auto");
    }

    private static Precision parse(String option, String v) {
        try {
            return Precision.byName(v);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(option + " " + e.getMessage());
        }
    }

    private static void check(String option, Precision p, Device d, Bf16Support bf16) {
        if (p == Precision.FP16 && !d.isGpu()) {
            throw new IllegalArgumentException(fp16OnCpu(option));
        }
        if (p == Precision.BF16) {
            String why = bf16.whyNot(d);
            if (why != null) {
                throw new IllegalArgumentException(option + " " + why);
            }
        }
    }

    private static Device resolveDevice(String value, Accelerators gpus) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        if (v.equals("auto")) {
            return gpus.usableGpus() > 0 ? Device.gpu(0) : Device.cpu();
        }
        if (v.equals("cpu")) {
            return Device.cpu();
        }
        int index;
        if (v.equals("cuda") || v.equals("gpu")) {
            index = 0;
        } else if (v.matches("(cuda|gpu):\\d{1,4}")) {
            index = Integer.parseInt(v.substring(v.indexOf(':') + 1));
        } else {
            throw new IllegalArgumentException("--device must be auto, cpu, cuda or cuda:N, got '" + value + "'");
        }
        int usable = gpus.usableGpus();
        if (usable == 0) {
            throw new DeviceUnavailableException("--device " + value + ": " + gpus.whyNoGpu());
        }
        if (index >= usable) {
            throw new DeviceUnavailableException("--device " + value + ": DJL's PyTorch engine sees " + usable
                    + " CUDA GPU(s), numbered 0.." + (usable - 1));
        }
        return Device.gpu(index);
    }

    /** True on the CPU in fp32: the setting whose infotexts and outputs are those of every earlier release. */
    public boolean isCpuDefault() {
        return !device.isGpu() && dtype == Precision.FP32 && vaeDtype == Precision.FP32;
    }

    /** {@code cpu} or {@code cuda:N}, as the options and infotexts write it. */
    public String deviceName() {
        return device.isGpu() ? "cuda:" + device.getDeviceId() : "cpu";
    }

    /**
     * The infotext fields of this setting in order, e.g. {@code Device} = {@code cuda:0},
     * {@code Dtype} = {@code fp16} (with {@code VAE dtype} when it differs from fp32 under half
     * precision or from the compute dtype otherwise); none for the CPU fp32 default, so those
     * infotexts stay as before.
     */
    public Map<String, String> infotextFields() {
        Map<String, String> m = new LinkedHashMap<>();
        if (isCpuDefault()) {
            return m;
        }
        m.put("Device", deviceName());
        m.put("Dtype", dtype.id());
        Precision defaultVae = dtype.isHalf() ? Precision.FP32 : dtype;
        if (vaeDtype != defaultVae) {
            m.put("VAE dtype", vaeDtype.id());
        }
        return m;
    }

    /** {@code cuda:0 fp16 (VAE fp32)}: the short label of logs, bench and the web page header. */
    public String label() {
        return deviceName() + " " + dtype.id() + (vaeDtype == dtype ? "" : " (VAE " + vaeDtype.id() + ")");
    }

    @Override
    public String toString() {
        return label();
    }
}
