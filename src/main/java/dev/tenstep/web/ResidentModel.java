package dev.tenstep.web;

import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.UnaryOperator;

/**
 * The one resident model (of type {@code M}: the web layer's {@link ServedModel}) and the switch barrier
 * in front of it. Work uses the model through a
 * {@link Lease}: a request is resolved against the lease's generator and its job keeps a lease
 * until it ends, so a job runs on the model its request was checked against. {@link #switchModel}
 * waits until every lease taken before it has been closed, swaps the model while nothing uses it,
 * and only leases asked for after it get the new model.
 *
 * <p>Built on a fair {@link Semaphore}: a lease is one permit, a switch takes all of them, and the
 * fair queue serves leases and switches in the order they were asked for. (A read-write lock would
 * say the same, but its read locks belong to the thread that took them, and a job's lease is taken
 * on the request thread and closed on the worker.) A job's own lease is taken while its caller
 * holds one ({@link Lease#share}): it barges past a waiting switch, which cannot proceed anyway
 * while the caller's lease is open. While a switch is pending, {@link #tryLease} refuses with
 * {@link SwitchingException} (HTTP 503) and {@link #lease} waits.
 */
public final class ResidentModel<M> implements AutoCloseable {
    /** Permits of the semaphore: a switch takes them all, so at most this many leases are open at once. */
    private static final int ALL = Integer.MAX_VALUE;
    /** How long {@link #tryLease} waits behind leases that are being granted right after a switch. */
    private static final long GRANT_WAIT_MS = 100;

    private final Semaphore permits = new Semaphore(ALL, true);
    /** The targets of the switches asked for and not yet finished, oldest first. */
    private final ConcurrentLinkedDeque<String> switches = new ConcurrentLinkedDeque<>();
    /** What new leases get; written only by {@link #switchModel} while it holds every permit. */
    private volatile M generator;
    private volatile boolean closed;

    /** Thrown by {@link #tryLease} (and {@link #lease} after its wait) while the model is being switched: HTTP 503. */
    public static final class SwitchingException extends RuntimeException {
        public SwitchingException(String message) {
            super(message);
        }
    }

    /**
     * A use of the resident model: while any lease is open, the model is not switched. Closing twice
     * is harmless; a lease may be closed on another thread than the one that took it.
     */
    public static final class Lease<M> implements AutoCloseable {
        private final Semaphore permits;
        private final M leased;
        private final AtomicBoolean open = new AtomicBoolean(true);

        private Lease(Semaphore permits, M leased) {
            this.permits = permits;
            this.leased = leased;
        }

        /** The model this lease uses: resolve requests with it. */
        public M generator() {
            return leased;
        }

        public boolean isOpen() {
            return open.get();
        }

        /**
         * A second lease on the same model, at once (for a job submitted under this lease, which
         * outlives the caller's). No switch can come between: this lease keeps it waiting.
         *
         * @throws IllegalStateException when this lease is closed
         */
        public Lease<M> share() {
            if (!open.get() || !permits.tryAcquire()) {
                // tryAcquire() barges by design; it only fails when this lease is closed (its permit is back)
                throw new IllegalStateException("the lease is closed");
            }
            return new Lease<>(permits, leased);
        }

        @Override
        public void close() {
            if (open.compareAndSet(true, false)) {
                permits.release();
            }
        }
    }

    /** @param generator the model resident at first */
    public ResidentModel(M generator) {
        this.generator = Objects.requireNonNull(generator, "generator");
    }

    /**
     * The resident model, for what pages and lists show. Work that depends on the model takes a
     * lease instead, so a switch cannot come between.
     */
    public M generator() {
        return generator;
    }

    /** The model a pending switch goes to (it waits for earlier leases, or loads), or null when none is pending. */
    public String switchingTo() {
        return switches.peekFirst();
    }

    /**
     * A lease on the resident model, at once.
     *
     * @throws SwitchingException    while a switch is pending (asked for and not finished)
     * @throws IllegalStateException after {@link #close}
     */
    public Lease<M> tryLease() {
        checkOpen();
        String target = switchingTo();
        if (target != null) {
            throw switching(target);
        }
        try {
            // the timed form keeps the fair order; it waits only when a switch was asked for meanwhile
            // (refused below) or leases queued behind a switch just finished are still being granted
            if (!permits.tryAcquire(GRANT_WAIT_MS, TimeUnit.MILLISECONDS)) {
                String now = switchingTo();
                throw switching(now != null ? now : "another model");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while taking a lease", e);
        }
        return granted();
    }

    /**
     * A lease on the resident model, after every switch asked for before this call has finished (so
     * the lease gets the model those switches loaded).
     *
     * @throws SwitchingException    when those switches take longer than {@code timeout}
     * @throws IllegalStateException after {@link #close}
     * @throws InterruptedException  when interrupted while waiting
     */
    public Lease<M> lease(long timeout, TimeUnit unit) throws InterruptedException {
        checkOpen();
        if (!permits.tryAcquire(timeout, unit)) {
            String target = switchingTo();
            throw switching(target != null ? target : "another model");
        }
        return granted();
    }

    /** After a permit was acquired: the lease, or the permit given back when closed meanwhile. */
    private Lease<M> granted() {
        if (closed) {
            permits.release();
            throw shuttingDown();
        }
        return new Lease<>(permits, generator);
    }

    /**
     * Switches the resident model: waits until every lease and switch asked for before has ended,
     * then calls {@code swap} with the resident model while no lease is open; what it returns is
     * the resident model from then on. Leases asked for meanwhile wait ({@link #lease}) or are
     * refused ({@link #tryLease}) until {@code swap} returns.
     *
     * @param target name of the model switched to, for the refusals' messages
     * @param swap   closes the old model, loads the new one and returns it, or returns the model to
     *               keep serving (it must not return null); runs on the calling thread. Should it
     *               throw, the old model stays resident.
     * @return what {@code swap} returned
     * @throws IllegalStateException after {@link #close}
     * @throws InterruptedException  when interrupted while waiting (nothing was swapped)
     */
    public M switchModel(String target, UnaryOperator<M> swap) throws InterruptedException {
        checkOpen();
        switches.addLast(target);
        try {
            permits.acquire(ALL);
            try {
                checkOpen();
                M now = Objects.requireNonNull(swap.apply(generator), "swap returned no model");
                generator = now;
                return now;
            } finally {
                permits.release(ALL);
            }
        } finally {
            switches.removeFirstOccurrence(target);
        }
    }

    /** No lease or switch is granted from now on; those open stay valid until closed. */
    @Override
    public void close() {
        closed = true;
    }

    private void checkOpen() {
        if (closed) {
            throw shuttingDown();
        }
    }

    private static IllegalStateException shuttingDown() {
        return new IllegalStateException("the server is shutting down");
    }

    private static SwitchingException switching(String target) {
        return new SwitchingException("the server is switching the model to '" + target
                + "' after the jobs queued before; new jobs are taken once it is loaded, try again shortly");
    }
}
