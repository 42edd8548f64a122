package dev.tenstep.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Samples this process's resident memory from {@code /proc/self/status} in a background daemon
 * thread: {@code VmRSS} (current) every {@code periodMs}, keeping the maximum, and {@code VmHWM}
 * (the kernel's own exact high-water mark of the resident set since the process started).
 * Linux only; elsewhere every figure is -1.
 */
public final class RssSampler implements AutoCloseable {
    private static final Path STATUS = Path.of("/proc/self/status");
    private final Thread thread;
    private volatile boolean running = true;
    private volatile long maxRssKb = -1;
    private volatile long windowMaxKb = -1;

    public RssSampler(long periodMs) {
        thread = new Thread(() -> {
            while (running) {
                sample();
                try {
                    Thread.sleep(periodMs);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "rss-sampler");
        thread.setDaemon(true);
        thread.start();
    }

    private void sample() {
        long rss = read("VmRSS:");
        if (rss > maxRssKb) {
            maxRssKb = rss;
        }
        if (rss > windowMaxKb) {
            windowMaxKb = rss;
        }
    }

    /** Starts a new window for {@link #windowMaxMb()} (e.g. the measured runs only). */
    public void resetWindow() {
        windowMaxKb = read("VmRSS:");
    }

    /** Largest sampled VmRSS since construction, MiB. */
    public double maxSampledMb() {
        sample();
        return maxRssKb / 1024.0;
    }

    /** Largest sampled VmRSS since {@link #resetWindow()}, MiB. */
    public double windowMaxMb() {
        sample();
        return windowMaxKb / 1024.0;
    }

    /** Current VmRSS, MiB. */
    public static double currentMb() {
        return read("VmRSS:") / 1024.0;
    }

    /** VmHWM: the kernel's peak resident set size of the process, MiB. */
    public static double peakMb() {
        return read("VmHWM:") / 1024.0;
    }

    /** A {@code /proc/self/status} field in kB, or -1. */
    static long read(String field) {
        try {
            for (String line : Files.readAllLines(STATUS)) {
                if (line.startsWith(field)) {
                    String v = line.substring(field.length()).trim();
                    int sp = v.indexOf(' ');
                    return Long.parseLong(sp < 0 ? v : v.substring(0, sp));
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
    }
}
