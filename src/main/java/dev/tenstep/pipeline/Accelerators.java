package dev.tenstep.pipeline;

import ai.djl.engine.Engine;
import ai.djl.engine.StandardCapabilities;
import ai.djl.pytorch.jni.LibUtils;

/**
 * What the PyTorch engine can compute on: the number of CUDA GPUs it can use, and when there are
 * none, why (one line for the {@code --device cuda} error). An interface so that the resolution of
 * {@code --device} is tested without a GPU.
 */
public interface Accelerators {
    /** CUDA GPUs the engine can put tensors on: 0 unless the loaded libtorch has CUDA and a GPU is visible. */
    int usableGpus();

    /** One line: which libtorch was loaded (version, folder), what is missing, what to set. */
    String whyNoGpu();

    /**
     * The loaded DJL PyTorch engine. A GPU counts only when libtorch itself was built with CUDA
     * ({@link StandardCapabilities#CUDA}) and DJL sees a device ({@link Engine#getGpuCount()}, through
     * the CUDA runtime): a machine with a GPU but DJL's CPU natives (the default
     * {@code pytorch-native-cpu} jar) has none usable.
     */
    static Accelerators djl() {
        Engine engine = Engine.getEngine("PyTorch");
        boolean cudaBuild = engine.hasCapability(StandardCapabilities.CUDA);
        int visible = engine.getGpuCount();
        int usable = cudaBuild ? visible : 0;
        String version = engine.getVersion();
        String path = libtorchPath();
        return new Accelerators() {
            @Override
            public int usableGpus() {
                return usable;
            }

            @Override
            public String whyNoGpu() {
                String loaded = "DJL's PyTorch engine loaded libtorch " + version + " from " + path;
                String what = !cudaBuild
                        ? loaded + ", a build without CUDA (the CPU natives of pytorch-native-cpu)"
                          + (visible > 0 ? ", although the CUDA runtime sees " + visible + " GPU(s)" : "")
                        : loaded + " with CUDA, but the CUDA runtime sees no GPU (driver, CUDA_VISIBLE_DEVICES?)";
                return "no usable CUDA GPU: " + what + "; point the launcher at a CUDA libtorch with "
                        + "--torch-home DIR or PYTORCH_LIBRARY_PATH=DIR (see docs/gpu.md), or use --device cpu";
            }
        };
    }

    private static String libtorchPath() {
        try {
            String p = LibUtils.getLibtorchPath();
            return p == null ? "(unknown folder)" : p;
        } catch (RuntimeException | LinkageError e) {
            return "(unknown folder)";
        }
    }

    /** A fixed answer (tests; a machine known to have {@code gpus} usable GPUs). */
    static Accelerators fixed(int gpus, String whyNot) {
        return new Accelerators() {
            @Override
            public int usableGpus() {
                return gpus;
            }

            @Override
            public String whyNoGpu() {
                return whyNot;
            }
        };
    }
}
