package dev.tenstep.pipeline;

import ai.djl.Device;
import dev.tenstep.model.nn.CpuBf16;

import java.util.Set;

/**
 * Whether bf16 compute ({@code --dtype bf16}, {@code --vae-dtype bf16}) can run on a device: the single
 * place that decides it. Two conditions, both detected at run time, never assumed:
 * <ol>
 *   <li>the loaded DJL JNI is one this project built with the bf16 patch ({@link DjlJni}); DJL 0.36.0's
 *       own JNI aborts the JVM at the first bf16 array ("terminate called without an active exception");</li>
 *   <li>on the CPU, the CPU has bf16 arithmetic ({@code avx512_bf16} or {@code amx_bf16} in
 *       {@code /proc/cpuinfo}, {@link CpuBf16}); without them libtorch emulates bf16 far slower than fp32.
 *       CUDA GPUs need no such check (every GPU libtorch supports computes bf16).</li>
 * </ol>
 * An interface so that the decision is tested without the patched JNI.
 */
public interface Bf16Support {
    /**
     * Why bf16 cannot run on {@code device}, or null when it can. The text follows the option name in the
     * one-line refusal: {@code "bf16 is refused: ..."} (the JNI) or {@code "bf16: bf16 on the CPU is refused:
     * ..."} (the CPU's instructions).
     */
    String whyNot(Device device);

    /** The decision for a given JNI and CPU flags (tests; {@link #loaded} for this process). */
    static Bf16Support of(DjlJni jni, Set<String> cpuFlags) {
        return device -> {
            if (!device.isGpu()) {
                String cpu = CpuBf16.refusal(cpuFlags);
                if (cpu != null) {
                    return "bf16: " + cpu;
                }
            }
            if (!jni.patched()) {
                return "bf16 is refused: DJL 0.36.0's PyTorch JNI has no mapping for torch's BFloat16 type (its "
                        + "GetScalarTypeFromDType ends in a bare 'throw;', so the first bf16 array aborts the JVM with "
                        + "'terminate called without an active exception'), and " + jni.reason() + "; build the "
                        + "patched JNI with scripts/build-djl-jni.sh and run with --torch-home, or use --dtype fp16 on "
                        + "CUDA (see docs/gpu.md)";
            }
            return null;
        };
    }

    /**
     * This process: the JNI of the loaded PyTorch engine and this machine's CPU flags, detected on the first
     * question only (so a run without bf16 never looks).
     */
    static Bf16Support loaded() {
        return new Bf16Support() {
            private Bf16Support decided;

            @Override
            public synchronized String whyNot(Device device) {
                if (decided == null) {
                    decided = of(DjlJni.loaded(), CpuBf16.cpuFlags());
                }
                return decided.whyNot(device);
            }
        };
    }
}
