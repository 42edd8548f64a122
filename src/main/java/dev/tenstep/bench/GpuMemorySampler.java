package dev.tenstep.bench;

import ai.djl.Device;
import ai.djl.util.cuda.CudaUtils;

import java.lang.management.MemoryUsage;

/**
 * Samples a GPU's used memory ({@code cudaMemGetInfo} through DJL's {@link CudaUtils}) on a
 * background thread, for {@code bench}: the peak of the samples, and the value after the model
 * load. Inactive (no thread, no CUDA call) for the CPU. The device-wide figure includes PyTorch's
 * cached blocks and other processes on the GPU; DJL 0.36 has no call for the allocator's own peak.
 */
final class GpuMemorySampler implements AutoCloseable {
    private final Device device;
    private final Thread thread;
    private volatile long peak;
    private volatile long afterLoad = -1;
    private volatile long total;

    GpuMemorySampler(Device device, long periodMs) {
        this.device = device;
        if (!device.isGpu()) {
            thread = null;
            return;
        }
        sample();
        thread = new Thread(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                sample();
                try {
                    Thread.sleep(periodMs);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "gpu-memory-sampler");
        thread.setDaemon(true);
        thread.start();
    }

    private void sample() {
        MemoryUsage u = CudaUtils.getGpuMemory(device);
        total = u.getMax();
        peak = Math.max(peak, u.getUsed());
    }

    boolean active() {
        return thread != null;
    }

    void markLoaded() {
        if (active()) {
            sample();
            afterLoad = CudaUtils.getGpuMemory(device).getUsed();
        }
    }

    double peakMb() {
        if (active()) {
            sample();
        }
        return peak / 1048576.0;
    }

    double afterLoadMb() {
        return afterLoad / 1048576.0;
    }

    double totalMb() {
        return total / 1048576.0;
    }

    @Override
    public void close() {
        if (thread != null) {
            thread.interrupt();
        }
    }
}
