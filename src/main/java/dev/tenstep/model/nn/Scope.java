package dev.tenstep.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import java.util.concurrent.CancellationException;
import java.util.function.BiConsumer;
import java.util.function.UnaryOperator;

/**
 * Runs one module's forward in a sub-manager so its intermediates are freed when it returns.
 *
 * <p>The input is temporarily attached to a new sub-manager of its own manager, so every op with
 * the activation on the left lands there; the result is attached back to the input's manager and
 * the input is returned to it when the sub-manager closes.
 */
public final class Scope {
    private Scope() {
    }

    /** Applies {@code body} to {@code x}; only the result survives, in x's manager. */
    public static NDArray run(NDArray x, UnaryOperator<NDArray> body) {
        NDManager parent = x.getManager();
        try (NDManager sub = parent.newSubManager()) {
            x.tempAttach(sub);
            NDArray y = body.apply(x);
            if (y != x) {
                y.attach(parent);
            }
            return y;
        }
    }

    /**
     * Cancellation point inside a forward: throws when the calling thread has been interrupted
     * (the web app interrupts a worker to cancel its running job). The interrupt flag is left set
     * for the caller to see and clear; the forward's sub-managers are closed as the exception unwinds.
     *
     * @throws CancellationException if the current thread is interrupted
     */
    public static void checkCancelled() {
        if (Thread.currentThread().isInterrupted()) {
            throw new CancellationException("cancelled");
        }
    }

    /** Reports a debug intermediate, if a hook is set. */
    public static void emit(BiConsumer<String, NDArray> hook, String name, NDArray a) {
        if (hook != null) {
            hook.accept(name, a);
        }
    }
}
