package dev.tenstep.model.nn;

import ai.djl.ndarray.NDArray;

/**
 * A layer whose weight can be replaced for a while by a changed copy and then restored exactly: {@link Linear}
 * and {@link Conv2d}, the layers a LoRA changes (AUTOMATIC1111's {@code network_apply_weights} patches the same
 * {@code Linear} / {@code Conv2d} modules). The base weight is never written to (it may be a read-only mapping of
 * the weight file), so restoring is setting the patch back to null: the base numbers come back bit for bit.
 */
public interface Patchable {
    /** The weight as loaded ([out, in] or [out, in, kh, kw]); never changed. */
    NDArray baseWeight();

    /** The weight {@code forward} computes with now: the patch when one is set, else {@link #baseWeight()}. */
    NDArray currentWeight();

    /**
     * Sets the weight {@code forward} uses from now on.
     *
     * @param weight same shape and dtype as the base weight, owned by the caller (who closes it after restoring);
     *               null restores the base weight
     * @throws IllegalArgumentException if the shape or dtype differs from the base weight's
     */
    void setPatch(NDArray weight);

    /** Checks that a patch fits the base weight (shared by the implementations). */
    static void checkPatch(NDArray base, NDArray patch, String layer) {
        if (patch != null && (!patch.getShape().equals(base.getShape()) || patch.getDataType() != base.getDataType())) {
            throw new IllegalArgumentException(layer + ": a patch " + patch.getShape() + " " + patch.getDataType()
                    + " does not fit the weight " + base.getShape() + " " + base.getDataType());
        }
    }
}
