package dev.tenstep.model.singlefile;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.model.config.UNetConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The block layout of a UNet as the original single-file checkpoints number it (LDM / SGM
 * {@code openaimodel.UNetModel}: {@code input_blocks}, {@code middle_block}, {@code output_blocks}),
 * read from a diffusers {@code unet/config.json}: what {@link CheckpointKeys#unet} needs to turn
 * those flat indices into diffusers names, and the widths that release recognition checks
 * ({@link Architecture}). It covers SD 1.x/2.x and SDXL UNets alike; the keys are read with
 * diffusers' {@code UNet2DConditionModel} defaults.
 *
 * <p>A level has attention when its block type is {@code CrossAttnDownBlock2D} /
 * {@code CrossAttnUpBlock2D}. {@code transformer_layers_per_block} (an int or one entry per down
 * level) is the number of transformer blocks of each attention of a down level; the up levels use
 * the list reversed and the mid block its last entry (diffusers {@code unet_2d_condition.py}).
 *
 * @param layersPerBlock   {@code layers_per_block}: resnets per down level (up levels have one more)
 * @param downAttention    per down level, whether it has attentions
 * @param upAttention      per up level (diffusers order, lowest resolution first), whether it has attentions
 * @param depth            transformer blocks per attention of each down level
 * @param blockOutChannels {@code block_out_channels}, one per level
 * @param inChannels       {@code in_channels} (latent channels)
 * @param outChannels      {@code out_channels}
 * @param crossAttentionDim {@code cross_attention_dim}: the text context width
 * @param timeEmbedDim     {@code time_embedding_dim}, else 4 x the first block width
 * @param addEmbedInputDim {@code projection_class_embeddings_input_dim} when {@code addition_embed_type}
 *                         is {@code text_time} (SDXL's {@code label_emb}), else 0 (no added embedding)
 */
public record UNetLayout(int layersPerBlock, List<Boolean> downAttention, List<Boolean> upAttention, int[] depth,
                         int[] blockOutChannels, int inChannels, int outChannels, int crossAttentionDim, int timeEmbedDim,
                         int addEmbedInputDim) {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Validates the layout.
     *
     * @throws IllegalArgumentException if the per-level lists differ in length or a count is not positive
     */
    public UNetLayout {
        int levels = blockOutChannels.length;
        if (levels == 0 || downAttention.size() != levels || upAttention.size() != levels || depth.length != levels) {
            throw new IllegalArgumentException("UNet layout: block_out_channels, down_block_types, up_block_types and "
                    + "transformer_layers_per_block need one entry per level, got " + levels + ", " + downAttention.size()
                    + ", " + upAttention.size() + ", " + depth.length);
        }
        if (layersPerBlock <= 0) {
            throw new IllegalArgumentException("layers_per_block " + layersPerBlock + " is not positive");
        }
        for (int d : depth) {
            if (d <= 0) {
                throw new IllegalArgumentException("transformer_layers_per_block entry " + d + " is not positive");
            }
        }
        downAttention = List.copyOf(downAttention);
        upAttention = List.copyOf(upAttention);
    }

    /**
     * Reads the layout from a diffusers {@code unet/config.json}.
     *
     * @throws ModelLoadException naming the file when it is missing, malformed, lacks
     *                            {@code block_out_channels} / {@code down_block_types} /
     *                            {@code up_block_types}, has a block type other than the (CrossAttn)
     *                            Down/Up blocks, or per-block lists this layout does not know
     *                            ({@code layers_per_block} as a list, nested transformer depths)
     */
    public static UNetLayout read(Path configJson) {
        if (!Files.isRegularFile(configJson)) {
            throw new ModelLoadException("missing config file " + configJson);
        }
        try {
            return of(JSON.readTree(configJson.toFile()));
        } catch (IOException e) {
            throw new ModelLoadException(configJson + ": cannot read: " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException(configJson + ": " + e.getMessage(), e);
        }
    }

    /**
     * The layout of a loaded UNet's configuration (what {@link #read} takes from the same
     * {@code config.json}; {@link UNetConfig} has already resolved the defaults and checked the
     * block types), e.g. to map a LoRA's original-layout module names to the model's.
     */
    public static UNetLayout of(UNetConfig c) {
        List<Boolean> down = c.downBlockTypes().stream().map("CrossAttnDownBlock2D"::equals).toList();
        List<Boolean> up = c.upBlockTypes().stream().map("CrossAttnUpBlock2D"::equals).toList();
        return new UNetLayout(c.layersPerBlock(), down, up, c.transformerLayersPerBlock().clone(),
                c.blockOutChannels().clone(), c.inChannels(), c.outChannels(), c.crossAttentionDim(), c.timeEmbeddingDim(),
                c.hasTextTimeEmbedding() ? c.projectionClassEmbeddingsInputDim() : 0);
    }

    private static UNetLayout of(JsonNode c) {
        int[] channels = ints(required(c, "block_out_channels"), "block_out_channels");
        int levels = channels.length;
        List<Boolean> down = attention(required(c, "down_block_types"), "down_block_types", "CrossAttnDownBlock2D", "DownBlock2D");
        List<Boolean> up = attention(required(c, "up_block_types"), "up_block_types", "CrossAttnUpBlock2D", "UpBlock2D");
        JsonNode mid = c.get("mid_block_type");
        if (mid != null && !mid.asText().equals("UNetMidBlock2DCrossAttn")) {
            // the SGM middle_block numbering (resnet, attention, resnet) is that of this block
            throw new IllegalArgumentException("mid_block_type " + mid + " is not supported (UNetMidBlock2DCrossAttn)");
        }
        JsonNode lpb = present(c, "layers_per_block");
        if (lpb != null && !lpb.isInt()) {
            throw new IllegalArgumentException("layers_per_block " + lpb + ": per-level lists are not supported");
        }
        JsonNode tl = present(c, "transformer_layers_per_block");
        int[] depth = new int[levels];
        if (tl == null || tl.isInt()) {
            java.util.Arrays.fill(depth, tl == null ? 1 : tl.asInt());
        } else {
            depth = ints(tl, "transformer_layers_per_block");
        }
        JsonNode cross = present(c, "cross_attention_dim");
        if (cross != null && !cross.isInt()) {
            throw new IllegalArgumentException("cross_attention_dim " + cross + ": per-level lists are not supported");
        }
        JsonNode timeDim = present(c, "time_embedding_dim");
        JsonNode add = present(c, "addition_embed_type");
        int addInput = 0;
        if (add != null) {
            if (!add.asText().equals("text_time")) {
                throw new IllegalArgumentException("addition_embed_type '" + add.asText() + "' is not supported (text_time)");
            }
            addInput = required(c, "projection_class_embeddings_input_dim").asInt();
        }
        return new UNetLayout(lpb == null ? 2 : lpb.asInt(), down, up, depth, channels, intOr(c, "in_channels", 4),
                intOr(c, "out_channels", 4), cross == null ? 1280 : cross.asInt(),
                timeDim == null ? 4 * channels[0] : timeDim.asInt(), addInput);
    }

    private static JsonNode present(JsonNode c, String key) {
        JsonNode n = c.get(key);
        return n == null || n.isNull() ? null : n;
    }

    private static JsonNode required(JsonNode c, String key) {
        JsonNode n = present(c, key);
        if (n == null) {
            throw new IllegalArgumentException("missing required key '" + key + "'");
        }
        return n;
    }

    private static int intOr(JsonNode c, String key, int dflt) {
        JsonNode n = present(c, key);
        return n == null ? dflt : n.asInt();
    }

    private static int[] ints(JsonNode n, String key) {
        if (!n.isArray() || n.isEmpty()) {
            throw new IllegalArgumentException(key + " " + n + " is not a non-empty list of integers");
        }
        int[] out = new int[n.size()];
        for (int i = 0; i < out.length; i++) {
            if (!n.get(i).isInt()) {
                throw new IllegalArgumentException(key + " entry " + n.get(i) + " is not an integer");
            }
            out[i] = n.get(i).asInt();
        }
        return out;
    }

    private static List<Boolean> attention(JsonNode n, String key, String withAttention, String without) {
        if (!n.isArray()) {
            throw new IllegalArgumentException(key + " " + n + " is not a list");
        }
        List<Boolean> out = new ArrayList<>();
        for (JsonNode t : n) {
            if (t.asText().equals(withAttention)) {
                out.add(true);
            } else if (t.asText().equals(without)) {
                out.add(false);
            } else {
                throw new IllegalArgumentException(key + " entry '" + t.asText() + "' is not supported (" + withAttention
                        + ", " + without + ")");
            }
        }
        return out;
    }

    /** Number of resolution levels. */
    public int levels() {
        return blockOutChannels.length;
    }

    /** Transformer blocks per attention of up level {@code i} (diffusers order): the down depths reversed. */
    public int upDepth(int i) {
        return depth[levels() - 1 - i];
    }

    /** Transformer blocks of the mid block's attention: the deepest level's. */
    public int midDepth() {
        return depth[levels() - 1];
    }

    /** Whether the UNet has SDXL's added embedding ({@code add_embedding}, SGM {@code label_emb}). */
    public boolean hasAddedEmbedding() {
        return addEmbedInputDim > 0;
    }
}
