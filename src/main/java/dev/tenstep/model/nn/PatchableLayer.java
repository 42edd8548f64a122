package dev.tenstep.model.nn;

import ai.djl.ndarray.NDArray;

/**
 * The weight-and-patch state that {@link Linear} and {@link Conv2d} share: the weight as loaded, never written, and
 * the merged copy {@code forward} uses instead while one is set ({@link Patchable}).
 */
public abstract class PatchableLayer implements Patchable {
    /** The weight as loaded ([out, in] or [out, in, kh, kw]); never changed (see {@link #currentWeight()}). */
    public final NDArray weight;
    /** "Linear" or "Conv2d", for the error of a patch that does not fit. */
    private final String kind;
    /** The merged weight forward uses instead of {@link #weight}, or null. */
    private volatile NDArray patch;

    protected PatchableLayer(NDArray weight, String kind) {
        this.weight = weight;
        this.kind = kind;
    }

    @Override
    public NDArray baseWeight() {
        return weight;
    }

    @Override
    public NDArray currentWeight() {
        NDArray p = patch;
        return p != null ? p : weight;
    }

    @Override
    public void setPatch(NDArray w) {
        Patchable.checkPatch(weight, w, kind + " " + weight.getName());
        patch = w;
    }
}
