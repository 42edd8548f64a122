package dev.tenstep.cli;

/**
 * Process-wide DJL settings applied by every entry point before the engine loads: offline (natives
 * come from the pytorch-native-cpu jar, nothing is downloaded) and no usage tracking.
 */
public final class DjlEnvironment {
    private DjlEnvironment() {
    }

    /**
     * Sets {@code ai.djl.offline} and {@code OPT_OUT_TRACKING}; idempotent. The one exception to
     * offline is the explicit GPU download route of docs/gpu.md (the launcher's
     * {@code TENSTEP_NATIVES=download} passes {@code -Dai.djl.offline=false}), which lets DJL fetch
     * the CUDA libtorch once.
     */
    public static void configure() {
        System.setProperty("OPT_OUT_TRACKING", "true");
        if ("false".equalsIgnoreCase(System.getProperty("ai.djl.offline"))) {
            return;
        }
        System.setProperty("ai.djl.offline", "true");
        System.setProperty("DJL_OFFLINE", "true");
    }

    /**
     * Sets the intra-op thread count of the PyTorch engine (default: the number of cores).
     * Must run before the engine loads.
     */
    public static void threads(Integer n) {
        if (n != null && n > 0) {
            System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(n));
            System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        }
    }
}
