package dev.tenstep.model.nn;

import java.util.ArrayDeque;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Optional wall-clock profiler of model modules ({@code bench --profile}). Modules wrap their
 * forward in {@code return Profiler.time("conv", () -> ...);}. Disabled (the default) that is a
 * volatile read and a branch around the body. PyTorch CPU ops are synchronous, so the wall
 * time around a module is its kernels' time plus the JNI calls.
 *
 * <p>Nesting is tracked per thread: each entry records its inclusive time and its self time
 * (inclusive minus the time of profiled modules inside it), keyed by the outermost module
 * ("unet", "vae", "text_encoder") and the module kind, e.g. {@code unet/conv}. The self times of one
 * root sum to the root's inclusive time.
 */
public final class Profiler {
    private static volatile boolean enabled;
    private static final Map<String, Entry> ENTRIES = new ConcurrentHashMap<>();
    private static final ThreadLocal<ArrayDeque<Frame>> STACK = ThreadLocal.withInitial(ArrayDeque::new);

    private Profiler() {
    }

    private static final class Frame {
        final String kind;
        long childNanos;

        Frame(String kind) {
            this.kind = kind;
        }
    }

    /** Accumulated figures of one {@code root/kind}. */
    public static final class Entry {
        final LongAdder calls = new LongAdder();
        final LongAdder totalNanos = new LongAdder();
        final LongAdder selfNanos = new LongAdder();

        public long calls() {
            return calls.sum();
        }

        public double totalMs() {
            return totalNanos.sum() / 1e6;
        }

        public double selfMs() {
            return selfNanos.sum() / 1e6;
        }
    }

    public static void setEnabled(boolean on) {
        enabled = on;
    }

    public static boolean enabled() {
        return enabled;
    }

    public static void reset() {
        ENTRIES.clear();
    }

    /**
     * Runs {@code body} as one profiled module of the given kind (e.g. {@code conv}, {@code unet}):
     * its wall time is recorded under the enclosing root module when the profiler is enabled.
     *
     * @return what {@code body} returns; its exceptions pass through (the time is still recorded)
     */
    public static <T> T time(String kind, java.util.function.Supplier<T> body) {
        long t = start(kind);
        try {
            return body.get();
        } finally {
            stop(t);
        }
    }

    /** Marks the start of a module; returns 0 when disabled (then {@link #stop} does nothing). */
    public static long start(String kind) {
        if (!enabled) {
            return 0L;
        }
        STACK.get().push(new Frame(kind));
        return System.nanoTime();
    }

    /** Ends the module begun by the matching {@link #start}. */
    public static void stop(long t0) {
        if (t0 == 0L) {
            return;
        }
        long elapsed = System.nanoTime() - t0;
        ArrayDeque<Frame> stack = STACK.get();
        Frame f = stack.pop();
        Frame parent = stack.peek();
        if (parent != null) {
            parent.childNanos += elapsed;
        }
        String root = stack.isEmpty() ? f.kind : stack.peekLast().kind;
        String key = stack.isEmpty() ? root + "/(total)" : root + "/" + f.kind;
        Entry e = ENTRIES.computeIfAbsent(key, k -> new Entry());
        e.calls.increment();
        e.totalNanos.add(elapsed);
        e.selfNanos.add(elapsed - f.childNanos);
        if (stack.isEmpty()) {
            // the root's own self time (ops not inside a profiled module)
            Entry s = ENTRIES.computeIfAbsent(root + "/(other)", k -> new Entry());
            s.calls.increment();
            s.totalNanos.add(elapsed - f.childNanos);
            s.selfNanos.add(elapsed - f.childNanos);
        }
    }

    /** A snapshot, sorted by key. */
    public static Map<String, Entry> snapshot() {
        return new TreeMap<>(ENTRIES);
    }
}
