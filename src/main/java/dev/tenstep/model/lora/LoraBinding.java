package dev.tenstep.model.lora;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Where each module of a {@link LoraNetwork} lands in a model: the base weight it changes. Kohya names
 * are the module path with dots replaced by underscores ({@code down_blocks_0_attentions_0_proj_in}),
 * and underscores also occur inside module names ({@code to_q}, {@code proj_in}), so names are mapped
 * through the model's own weight list ({@code path.replace('.', '_') -> path}), never by turning
 * underscores back into dots. PEFT names are the module paths themselves.
 *
 * @param targets       the modules that matched, each with its weight
 * @param unmatchedKeys the file's keys of modules that name no weight of the model (A1111's
 *                      {@code keys_failed_to_match}), in file order
 */
public record LoraBinding(List<Target> targets, List<String> unmatchedKeys) {
    /**
     * One matched module.
     *
     * @param module      the LoRA module
     * @param weightName  the base weight it changes, e.g. {@code down_blocks.0.resnets.0.conv1.weight}
     * @param weightShape that weight's shape
     */
    public record Target(LoraNetwork.Module module, String weightName, long[] weightShape) {
    }

    /**
     * Binds a network's modules to a model's weights.
     *
     * @param network      the LoRA
     * @param modelFamily  the model's family (a LoRA whose metadata names another family is refused)
     * @param weightShapes per component, the model's weight names ({@code ….weight}) and shapes
     * @throws IllegalArgumentException naming the LoRA and both families when the LoRA is for another
     *                                  architecture: by its metadata, or by a factor whose rank of axes or size
     *                                  does not fit the weight it names (e.g. an SD 2.x {@code proj_in} linear
     *                                  factor [r, C] on SD 1.x's 1x1 convolution [C, C, 1, 1])
     */
    public static LoraBinding bind(LoraNetwork network, LoraNetwork.Family modelFamily,
                                   Map<LoraNetwork.Component, Map<String, long[]>> weightShapes) {
        LoraNetwork.Family family = network.family();
        if (family != LoraNetwork.Family.UNKNOWN && modelFamily != LoraNetwork.Family.UNKNOWN && family != modelFamily) {
            throw new IllegalArgumentException("LoRA '" + network.name() + "' is for " + label(family)
                    + " (its metadata says so); the model is " + label(modelFamily));
        }
        Map<LoraNetwork.Component, Map<String, String>> byKohyaName = new HashMap<>();
        List<Target> targets = new ArrayList<>();
        List<String> unmatched = new ArrayList<>();
        for (LoraNetwork.Module m : network.modules()) {
            Map<String, long[]> shapes = weightShapes.getOrDefault(m.component(), Map.of());
            String weight;
            if (network.layout() == LoraNetwork.Layout.PEFT) {
                weight = shapes.containsKey(m.name() + ".weight") ? m.name() + ".weight" : null;
            } else {
                weight = byKohyaName.computeIfAbsent(m.component(), c -> kohyaNames(shapes)).get(m.name());
            }
            if (weight == null) {
                unmatched.addAll(m.keys());
                continue;
            }
            long[] shape = shapes.get(weight);
            long rest = 1;
            for (int i = 1; i < shape.length; i++) {
                rest *= shape[i];
            }
            boolean axesFit = m.down().getShape().dimension() == shape.length;
            boolean sizesFit = m.up().size() == shape[0] * m.rank() && m.down().size() == m.rank() * rest;
            if (!axesFit || !sizesFit) {
                throw new IllegalArgumentException("LoRA '" + network.name() + "' does not fit this " + label(modelFamily)
                        + " model: module " + m.name() + " has down " + m.down().getShape() + " and up " + m.up().getShape()
                        + " for the weight " + weight + " of shape " + new ai.djl.ndarray.types.Shape(shape)
                        + " (a LoRA for another architecture; it says it is for " + label(family) + ")");
            }
            targets.add(new Target(m, weight, shape));
        }
        return new LoraBinding(List.copyOf(targets), List.copyOf(unmatched));
    }

    /** The weight names and shapes of a model's layers, per component, as {@link #bind} takes them. */
    public static Map<LoraNetwork.Component, Map<String, long[]>> shapes(
            Map<LoraNetwork.Component, Map<String, dev.tenstep.model.nn.Patchable>> layers) {
        Map<LoraNetwork.Component, Map<String, long[]>> out = new java.util.EnumMap<>(LoraNetwork.Component.class);
        layers.forEach((c, byName) -> {
            Map<String, long[]> m = new java.util.LinkedHashMap<>();
            byName.forEach((name, layer) -> m.put(name, layer.baseWeight().getShape().getShape()));
            out.put(c, m);
        });
        return out;
    }

    private static Map<String, String> kohyaNames(Map<String, long[]> shapes) {
        Map<String, String> out = new HashMap<>();
        for (String w : shapes.keySet()) {
            if (w.endsWith(".weight")) {
                out.put(w.substring(0, w.length() - ".weight".length()).replace('.', '_'), w);
            }
        }
        return out;
    }

    /** A user-facing family name: SD 1.x, SD 2.x, SDXL, or "an unknown model family". */
    public static String label(LoraNetwork.Family f) {
        return switch (f) {
            case SD1 -> "SD 1.x";
            case SD2 -> "SD 2.x";
            case SDXL -> "SDXL";
            case UNKNOWN -> "an unknown model family";
        };
    }
}
