package dev.tenstep.model.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.tenstep.model.nn.Patchable;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * LoRAs merged into a loaded model's layers, until {@link #close()} restores the base weights. For each layer
 * that at least one LoRA changes with a non-zero multiplier:
 * <pre>
 *   W' = W + m_1 * delta_1 + m_2 * delta_2 + ...,   delta_i = (alpha_i / rank_i) * reshape(up_i @ down_i, W.shape)
 * </pre>
 * added in the LoRAs' order, as AUTOMATIC1111's {@code networks.py} {@code network_apply_weights} adds each
 * network's {@code updown} ({@code network.py} {@code finalize_updown}: {@code updown * scale * multiplier}; here
 * the scalar goes on the small {@code up} factor before the product, {@link LoraNetwork.Module#scaledDelta});
 * {@code m_i} is the LoRA's text-encoder multiplier for text-encoder modules and its UNet multiplier for UNet
 * modules. The sum is formed in float32 and narrowed once to the weight's dtype (fp16 / bf16 compute), so a
 * half-precision model does not round each LoRA's contribution separately.
 *
 * <p>The merged weights are new arrays ({@link Patchable#setPatch}); the base weights are never written (they
 * may be read-only mappings of the weight file). Restoring sets every patch back to null: the model computes
 * with its base numbers again, bit for bit. A module whose multiplier is 0 is skipped, so multiplier 0
 * gives the base model exactly. Not thread-safe: the caller keeps generations off the model while merging or
 * restoring.
 */
public final class LoraMerge implements AutoCloseable {
    /**
     * One LoRA to merge.
     *
     * @param binding its modules bound to the model's weights ({@link LoraBinding#bind})
     * @param te      the text-encoder multiplier (A1111's {@code te_multiplier})
     * @param unet    the UNet multiplier (A1111's {@code unet_multiplier})
     */
    public record Item(LoraBinding binding, double te, double unet) {
        double multiplier(LoraNetwork.Component c) {
            return c == LoraNetwork.Component.UNET ? unet : te;
        }
    }

    /** One module's contribution to a layer. */
    private record Part(LoraBinding.Target target, double multiplier) {
    }

    private final NDManager patches;
    private final List<Patchable> patched;
    private final long bytes;
    private boolean closed;

    private LoraMerge(NDManager patches, List<Patchable> patched, long bytes) {
        this.patches = patches;
        this.patched = patched;
        this.bytes = bytes;
    }

    /**
     * Merges the LoRAs into the layers.
     *
     * @param items  the LoRAs, in the prompt's order
     * @param layers per component, the model's layers by weight name ({@code UNet2DConditionModel#layers},
     *               {@code ClipTextModel#layers}): the names the bindings were made against
     * @param parent the merged weights live in a sub-manager of it (on the model's device) until {@link #close()}
     * @return the merge; close it to restore the base weights
     * @throws IllegalStateException    if a bound weight names no layer, or a layer is already patched (another
     *                                  merge is still applied)
     */
    public static LoraMerge apply(List<Item> items, Map<LoraNetwork.Component, Map<String, Patchable>> layers,
                                  NDManager parent) {
        // per layer, the (module, multiplier) pairs that change it, in the LoRAs' order
        Map<Patchable, List<Part>> byLayer = new LinkedHashMap<>();
        for (Item item : items) {
            for (LoraBinding.Target t : item.binding().targets()) {
                LoraNetwork.Component c = t.module().component();
                double m = item.multiplier(c);
                Patchable layer = layers.getOrDefault(c, Map.of()).get(t.weightName());
                if (layer == null) {
                    throw new IllegalStateException("LoRA module " + t.module().name() + " is bound to " + c.prefix() + "."
                            + t.weightName() + ", which is no layer of this model");
                }
                if (layer.currentWeight() != layer.baseWeight()) {
                    throw new IllegalStateException(c.prefix() + "." + t.weightName()
                            + " is already patched: restore the previous merge first");
                }
                if (m != 0) {
                    byLayer.computeIfAbsent(layer, k -> new ArrayList<>()).add(new Part(t, m));
                }
            }
        }
        NDManager patches = parent.newSubManager();
        List<Patchable> patched = new ArrayList<>();
        long bytes = 0;
        try {
            for (Map.Entry<Patchable, List<Part>> e : byLayer.entrySet()) {
                Patchable layer = e.getKey();
                NDArray base = layer.baseWeight();
                long[] shape = base.getShape().getShape();
                try (NDManager scratch = patches.newSubManager()) {
                    NDArray acc = null;
                    for (Part part : e.getValue()) {
                        // (m * alpha / rank) up @ down: the scalar on the small factor, one weight-sized product
                        NDArray d = part.target().module().scaledDelta(shape, part.multiplier(), scratch);
                        if (acc == null) {
                            NDArray b = base;
                            if (base.getDataType() != DataType.FLOAT32) {
                                b = base.toType(DataType.FLOAT32, false);
                                b.attach(scratch);
                            }
                            // d first: the sum belongs to scratch, not to the model's weight manager
                            acc = d.add(b);
                        } else {
                            acc.addi(d);
                        }
                    }
                    NDArray merged = base.getDataType() == DataType.FLOAT32 ? acc : acc.toType(base.getDataType(), false);
                    merged.attach(patches);
                    layer.setPatch(merged);
                    patched.add(layer);
                    bytes += merged.size() * merged.getDataType().getNumOfBytes();
                }
            }
        } catch (RuntimeException ex) {
            patched.forEach(l -> l.setPatch(null));
            patches.close();
            throw ex;
        }
        return new LoraMerge(patches, List.copyOf(patched), bytes);
    }

    /**
     * Waits until the merge's kernels have run (a GPU queues them): reads one value of the last merged weight back
     * to the host, which waits for every kernel queued before it. For timing the merge; a no-op without patches.
     */
    public void synchronize() {
        if (patched.isEmpty()) {
            return;
        }
        try (NDManager s = patches.newSubManager()) {
            NDArray flat = patched.get(patched.size() - 1).currentWeight().reshape(-1);
            flat.attach(s);
            NDArray one = flat.get(0);
            one.attach(s);
            one.toType(DataType.FLOAT32, false).toFloatArray();
        }
    }

    /** How many layers compute with a merged weight. */
    public int patchedLayers() {
        return patched.size();
    }

    /** Device memory the merged weights take, in bytes (the base weights stay resident beside them). */
    public long patchBytes() {
        return bytes;
    }

    /** Restores every patched layer's base weight and frees the merged weights; idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        patched.forEach(l -> l.setPatch(null));
        patches.close();
    }
}
