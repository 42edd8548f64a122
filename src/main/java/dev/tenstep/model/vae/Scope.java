package dev.tenstep.model.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import java.util.function.BiConsumer;
import java.util.function.UnaryOperator;

/** Runs one block with a private sub-manager for its intermediates. */
final class Scope {
    private Scope() {
    }

    /**
     * Applies {@code block} to {@code x} with every intermediate in a sub-manager of x's manager
     * (x is temporarily attached to it, so results of ops on x land there); the output is attached
     * back to x's manager and everything else is freed.
     */
    static NDArray run(NDArray x, UnaryOperator<NDArray> block) {
        NDManager parent = x.getManager();
        try (NDManager sub = parent.newSubManager()) {
            x.tempAttach(sub);
            NDArray out = block.apply(x);
            if (out != x) {
                out.attach(parent);
            }
            return out;
        }
    }

    /** Reports a debug intermediate, if a hook is set. */
    static void emit(BiConsumer<String, NDArray> hook, String name, NDArray a) {
        if (hook != null) {
            hook.accept(name, a);
        }
    }
}
