package dev.tenstep.pipeline;

/**
 * The requested CUDA device cannot be used: the message is one line naming the libtorch DJL loaded
 * and what to set (docs/gpu.md). The command line reports it with exit code 2, as a bad option.
 */
public final class DeviceUnavailableException extends RuntimeException {
    public DeviceUnavailableException(String message) {
        super(message);
    }
}
