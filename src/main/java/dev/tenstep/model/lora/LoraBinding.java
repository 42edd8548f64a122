package dev.tenstep.model.lora;

import dev.tenstep.model.singlefile.CheckpointKeys;
import dev.tenstep.model.singlefile.UNetLayout;

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
 * <p>SDXL kohya files (sd-scripts' {@code sdxl_train_network.py}) name UNet modules in the original SGM layout
 * instead ({@code input_blocks_4_1_transformer_blocks_0_attn1_to_q}, {@code middle_block_0_in_layers_2},
 * {@code output_blocks_2_2_conv}, {@code time_embed_0}, {@code label_emb_0_0}). A UNet name that is no diffusers
 * name is therefore read as an SGM one: its numeric parts become dotted indices
 * ({@code input_blocks.4.1.transformer_blocks.0.attn1_to_q}), {@link CheckpointKeys#unet} maps that name to the
 * diffusers one with the model's own {@link UNetLayout} (the same mapping a single-file checkpoint's weights take;
 * the block indices depend on {@code layers_per_block}, the attention levels and the transformer depths, so they
 * are never fixed numbers), and the result is looked up among the model's weights as above. Attention
 * projections, feed-forward, {@code proj_in}/{@code proj_out}, resnet convolutions, shortcuts and time-embedding
 * projections, the down/upsamplers and the time and added embeddings all map so.
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
        return bind(network, modelFamily, weightShapes, null);
    }

    /**
     * As {@link #bind(LoraNetwork, LoraNetwork.Family, Map)}, and kohya UNet modules named in the original SGM
     * layout (SDXL files) are mapped through {@code unetLayout} as the class comment describes.
     *
     * @param unetLayout the model's UNet block layout ({@link UNetLayout#of}); null binds diffusers names only
     * @throws IllegalArgumentException as {@link #bind(LoraNetwork, LoraNetwork.Family, Map)}
     */
    public static LoraBinding bind(LoraNetwork network, LoraNetwork.Family modelFamily,
                                   Map<LoraNetwork.Component, Map<String, long[]>> weightShapes, UNetLayout unetLayout) {
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
                Map<String, String> names = byKohyaName.computeIfAbsent(m.component(), c -> kohyaNames(shapes));
                weight = names.get(m.name());
                if (weight == null && m.component() == LoraNetwork.Component.UNET && unetLayout != null) {
                    String diffusers = sgmToKohya(m.name(), unetLayout);
                    weight = diffusers == null ? null : names.get(diffusers);
                }
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

    /**
     * A kohya UNet name in the SGM layout ({@code input_blocks_4_1_proj_in}) as the kohya name of its diffusers
     * module ({@code down_blocks_1_attentions_0_proj_in}), or null when it has no place in {@code layout}. Only the
     * numeric parts become dots: the names {@link CheckpointKeys#unet} reads around them ({@code in_layers.2},
     * {@code transformer_blocks.0}, {@code op}, {@code conv}) and those it passes through ({@code attn1_to_q})
     * come out right whatever the underscores inside a part, since the result is compared in kohya form again.
     */
    static String sgmToKohya(String name, UNetLayout layout) {
        String[] parts = name.split("_", -1);
        StringBuilder dotted = new StringBuilder(parts[0]);
        for (int i = 1; i < parts.length; i++) {
            boolean index = isIndex(parts[i - 1]) || isIndex(parts[i]);
            dotted.append(index ? '.' : '_').append(parts[i]);
        }
        String d = CheckpointKeys.unet(dotted + ".weight", layout);
        return d == null ? null : d.substring(0, d.length() - ".weight".length()).replace('.', '_');
    }

    private static boolean isIndex(String part) {
        return !part.isEmpty() && part.chars().allMatch(ch -> ch >= '0' && ch <= '9');
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
