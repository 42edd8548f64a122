package dev.tenstep.model.nn;

import java.util.ArrayDeque;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Optional wall-clock profiler of model modules ({@code bench --profile}). Modules wrap their forward in
 * {@code return Profiler.time("conv", () -> ...);}, which records into the profiler active on the calling
 * thread ({@link #activate}); with none (the default) that is a thread-local read and a branch around the body.
 * A profiler is an object its user creates and reads back ({@link #snapshot}): nothing is process-wide, so a
 * generation on another thread never adds to it. PyTorch CPU ops are synchronous, so the wall time around a
 * module is its kernels' time plus the JNI calls.
 *
 * <p>Nesting is tracked per thread: each entry records its inclusive time and its self time
 * (inclusive minus the time of profiled modules inside it), keyed by the outermost module
 * ("unet", "vae", "text_encoder") and the module kind, e.g. {@code unet/conv}. The self times of one
 * root sum to the root's inclusive time.
 */
public final class Profiler {
    /** The profiler recording on each thread, or null. */
    private static final ThreadLocal<Profiler> ACTIVE = new ThreadLocal<>();
    private final Map<String, Entry> entries = new ConcurrentHashMap<>();
    /** The open modules of the thread this profiler is active on. */
    private final ArrayDeque<Frame> stack = new ArrayDeque<>();

    /** A profiler with no figures; it records once {@link #activate activated} on a thread. */
    public Profiler() {
    }

    /**
     * Makes this profiler record the modules run on the calling thread until the returned handle is closed
     * (try-with-resources on the same thread), which restores the thread's previous profiler.
     */
    public Scope activate() {
        Profiler previous = ACTIVE.get();
        ACTIVE.set(this);
        return () -> ACTIVE.set(previous);
    }

    /** Ends an {@link #activate} on close. */
    @FunctionalInterface
    public interface Scope extends AutoCloseable {
        /** A scope that activated nothing. */
        Scope NONE = () -> { };

        @Override
        void close();
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

    /**
     * Runs {@code body} as one profiled module of the given kind (e.g. {@code conv}, {@code unet}):
     * its wall time is recorded under the enclosing root module when a profiler is active on this thread.
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

    /** Marks the start of a module; returns 0 when no profiler is active on this thread (then {@link #stop} does nothing). */
    public static long start(String kind) {
        Profiler p = ACTIVE.get();
        if (p == null) {
            return 0L;
        }
        p.stack.push(new Frame(kind));
        return System.nanoTime();
    }

    /** Ends the module begun by the matching {@link #start} on this thread. */
    public static void stop(long t0) {
        if (t0 == 0L) {
            return;
        }
        Profiler p = ACTIVE.get();
        if (p == null || p.stack.isEmpty()) {
            // the profiler was deactivated inside the module: nothing to close
            return;
        }
        p.record(System.nanoTime() - t0);
    }

    private void record(long elapsed) {
        Frame f = stack.pop();
        Frame parent = stack.peek();
        if (parent != null) {
            parent.childNanos += elapsed;
        }
        String root = stack.isEmpty() ? f.kind : stack.peekLast().kind;
        String key = stack.isEmpty() ? root + "/(total)" : root + "/" + f.kind;
        Entry e = entries.computeIfAbsent(key, k -> new Entry());
        e.calls.increment();
        e.totalNanos.add(elapsed);
        e.selfNanos.add(elapsed - f.childNanos);
        if (stack.isEmpty()) {
            // the root's own self time (ops not inside a profiled module)
            Entry s = entries.computeIfAbsent(root + "/(other)", k -> new Entry());
            s.calls.increment();
            s.totalNanos.add(elapsed - f.childNanos);
            s.selfNanos.add(elapsed - f.childNanos);
        }
    }

    /** This profiler's figures so far, sorted by key. */
    public Map<String, Entry> snapshot() {
        return new TreeMap<>(entries);
    }
}
