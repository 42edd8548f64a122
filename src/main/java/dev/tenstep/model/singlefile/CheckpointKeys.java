package dev.tenstep.model.singlefile;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Weight names of the original CompVis / Stability single-file layout mapped to the diffusers /
 * transformers names the models ask for: the inverse of what diffusers'
 * {@code scripts/convert_diffusers_to_original_stable_diffusion.py} and
 * {@code convert_diffusers_to_original_sdxl.py} write, i.e. the renaming that
 * {@code from_single_file} ({@code loaders/single_file_utils.py}) performs. Names are given
 * relative to the component prefix ({@code model.diffusion_model.}, {@code first_stage_model.},
 * {@code cond_stage_model.transformer.} / {@code cond_stage_model.model.}, and SDXL's
 * {@code conditioner.embedders.0.transformer.} / {@code conditioner.embedders.1.model.}). Every
 * method returns null for a name that has no counterpart (the caller reports it as unexpected).
 */
public final class CheckpointKeys {
    private CheckpointKeys() {
    }

    private static final Pattern INPUT = Pattern.compile("^input_blocks\\.(\\d+)\\.(\\d+)\\.(.+)$");
    private static final Pattern OUTPUT = Pattern.compile("^output_blocks\\.(\\d+)\\.(\\d+)\\.(.+)$");
    private static final Pattern MIDDLE = Pattern.compile("^middle_block\\.(\\d+)\\.(.+)$");

    /**
     * UNet ({@code openaimodel.UNetModel} of LDM and SGM) name to diffusers {@code UNet2DConditionModel}
     * name. The original numbers its blocks flatly, with L = {@code layers_per_block}:
     * {@code input_blocks.0} is {@code conv_in}; down level i, layer j &lt; L is
     * {@code input_blocks.(1 + (L+1) i + j)} with the resnet as sub-module 0 and, on a level with
     * attention, the transformer as 1; the downsampler of a level below the last is
     * {@code input_blocks.((L+1)(i+1)).0.op}. {@code middle_block.0/1/2} are resnet, transformer,
     * resnet. Up level i (diffusers order, lowest resolution first), layer j &lt;= L is
     * {@code output_blocks.((L+1) i + j)}: resnet 0, transformer 1 on a level with attention, and
     * after layer L of a level below the last the upsampler, sub-module 2 with attention, 1 without.
     * SDXL's {@code label_emb.0.0/0.2} are {@code add_embedding.linear_1/2}. Transformer internals
     * ({@code norm}, {@code proj_in}, {@code transformer_blocks.k.attn1.to_q}, ...) carry the same
     * names in both layouts; a block index k beyond the level's {@code transformer_layers_per_block}
     * has no counterpart. (diffusers {@code convert_ldm_unet_checkpoint}, inverted.)
     *
     * @param layout the block layout from the UNet config; every index is checked against it
     * @return the diffusers name, or null for a name that has no place in {@code layout}
     */
    public static String unet(String name, UNetLayout layout) {
        int n = layout.layersPerBlock();
        int levels = layout.levels();
        String[][] fixed = {{"time_embed.0.", "time_embedding.linear_1."}, {"time_embed.2.", "time_embedding.linear_2."},
                {"out.0.", "conv_norm_out."}, {"out.2.", "conv_out."}};
        for (String[] f : fixed) {
            if (name.startsWith(f[0])) {
                return f[1] + name.substring(f[0].length());
            }
        }
        if (name.startsWith("label_emb.0.")) {
            // SGM's label_emb is Sequential(Sequential(Linear, SiLU, Linear)): 0.0 and 0.2 hold weights
            if (!layout.hasAddedEmbedding()) {
                return null;
            }
            String rest = name.substring("label_emb.0.".length());
            return rest.startsWith("0.") ? "add_embedding.linear_1." + rest.substring(2)
                    : rest.startsWith("2.") ? "add_embedding.linear_2." + rest.substring(2) : null;
        }
        Matcher m = INPUT.matcher(name);
        if (m.matches()) {
            int k = Integer.parseInt(m.group(1));
            int sub = Integer.parseInt(m.group(2));
            String rest = m.group(3);
            if (k == 0) {
                return sub == 0 ? "conv_in." + rest : null;
            }
            int level = (k - 1) / (n + 1);
            int j = (k - 1) % (n + 1);
            if (level >= levels) {
                return null;
            }
            String p = "down_blocks." + level + ".";
            if (j < n) {
                return sub == 0 ? resnet(p + "resnets." + j + ".", rest)
                        : sub == 1 && layout.downAttention().get(level)
                        ? transformer(p + "attentions." + j + ".", rest, layout.depth()[level]) : null;
            }
            return sub == 0 && level < levels - 1 && rest.startsWith("op.") ? p + "downsamplers.0.conv." + rest.substring(3) : null;
        }
        m = MIDDLE.matcher(name);
        if (m.matches()) {
            String rest = m.group(2);
            return switch (m.group(1)) {
                case "0" -> resnet("mid_block.resnets.0.", rest);
                case "1" -> transformer("mid_block.attentions.0.", rest, layout.midDepth());
                case "2" -> resnet("mid_block.resnets.1.", rest);
                default -> null;
            };
        }
        m = OUTPUT.matcher(name);
        if (m.matches()) {
            int k = Integer.parseInt(m.group(1));
            int sub = Integer.parseInt(m.group(2));
            String rest = m.group(3);
            int level = k / (n + 1);
            int j = k % (n + 1);
            if (level >= levels) {
                return null;
            }
            String p = "up_blocks." + level + ".";
            boolean attention = layout.upAttention().get(level);
            if (j == n && level < levels - 1 && sub == (attention ? 2 : 1)) {
                return rest.startsWith("conv.") ? p + "upsamplers.0.conv." + rest.substring(5) : null;
            }
            return sub == 0 ? resnet(p + "resnets." + j + ".", rest)
                    : sub == 1 && attention ? transformer(p + "attentions." + j + ".", rest, layout.upDepth(level)) : null;
        }
        return null;
    }

    private static final Pattern TRANSFORMER_BLOCK = Pattern.compile("^transformer_blocks\\.(\\d+)\\..+$");

    /**
     * A {@code Transformer2DModel}'s weight ({@code norm}, {@code proj_in}, {@code proj_out},
     * {@code transformer_blocks.k.*}), same names in both layouts; null for any other name and for a
     * block index at or beyond {@code depth}.
     */
    private static String transformer(String prefix, String rest, int depth) {
        Matcher m = TRANSFORMER_BLOCK.matcher(rest);
        if (m.matches()) {
            return Integer.parseInt(m.group(1)) < depth ? prefix + rest : null;
        }
        boolean own = rest.startsWith("norm.") || rest.startsWith("proj_in.") || rest.startsWith("proj_out.");
        return own ? prefix + rest : null;
    }

    /** ResBlock internals: {@code in_layers.0/2, emb_layers.1, out_layers.0/3, skip_connection}. */
    private static String resnet(String prefix, String rest) {
        String[][] map = {{"in_layers.0.", "norm1."}, {"in_layers.2.", "conv1."}, {"emb_layers.1.", "time_emb_proj."},
                {"out_layers.0.", "norm2."}, {"out_layers.3.", "conv2."}, {"skip_connection.", "conv_shortcut."}};
        for (String[] e : map) {
            if (rest.startsWith(e[0])) {
                return prefix + e[1] + rest.substring(e[0].length());
            }
        }
        return null;
    }

    private static final Pattern VAE_DOWN = Pattern.compile("^encoder\\.down\\.(\\d+)\\.(block\\.(\\d+)|downsample)\\.(.+)$");
    private static final Pattern VAE_UP = Pattern.compile("^decoder\\.up\\.(\\d+)\\.(block\\.(\\d+)|upsample)\\.(.+)$");
    private static final Pattern VAE_MID = Pattern.compile("^(encoder|decoder)\\.mid\\.(block_1|block_2|attn_1)\\.(.+)$");

    /** A VAE name in diffusers' layout, and whether its 1x1-convolution weight becomes linear. */
    public record Mapped(String name, boolean convToLinear) {
    }

    /**
     * VAE ({@code ldm...autoencoder.AutoencoderKL}) name to diffusers {@code AutoencoderKL} name.
     * The original numbers decoder levels from the lowest resolution up ({@code decoder.up.0} is
     * diffusers' last {@code up_blocks}), and stores the mid-block attention's q/k/v/proj_out as 1x1
     * convolutions [C, C, 1, 1], which become the linear [C, C] {@code to_q/to_k/to_v/to_out.0}.
     *
     * @param upIndices the distinct {@code decoder.up.N} indices of the file, in descending order:
     *                  the k-th is diffusers' {@code up_blocks.k}. For a release file they are
     *                  levels-1..0; diffusers' conversion script writes {@code up.(3 - k)} whatever
     *                  the number of levels, which this ordering reads correctly too
     */
    public static Mapped vae(String name, java.util.List<Integer> upIndices) {
        for (String s : new String[] {"quant_conv.", "post_quant_conv.", "encoder.conv_in.", "encoder.conv_out.",
                "decoder.conv_in.", "decoder.conv_out."}) {
            if (name.startsWith(s)) {
                return new Mapped(name, false);
            }
        }
        if (name.startsWith("encoder.norm_out.") || name.startsWith("decoder.norm_out.")) {
            return new Mapped(name.replace(".norm_out.", ".conv_norm_out."), false);
        }
        Matcher m = VAE_DOWN.matcher(name);
        if (m.matches()) {
            String p = "encoder.down_blocks." + m.group(1) + ".";
            return m.group(3) != null ? vaeResnet(p + "resnets." + m.group(3) + ".", m.group(4))
                    : m.group(4).startsWith("conv.") ? new Mapped(p + "downsamplers.0." + m.group(4), false) : null;
        }
        m = VAE_UP.matcher(name);
        if (m.matches()) {
            int level = upIndices.indexOf(Integer.parseInt(m.group(1)));
            if (level < 0) {
                return null;
            }
            String p = "decoder.up_blocks." + level + ".";
            return m.group(3) != null ? vaeResnet(p + "resnets." + m.group(3) + ".", m.group(4))
                    : m.group(4).startsWith("conv.") ? new Mapped(p + "upsamplers.0." + m.group(4), false) : null;
        }
        m = VAE_MID.matcher(name);
        if (m.matches()) {
            String p = m.group(1) + ".mid_block.";
            String rest = m.group(3);
            switch (m.group(2)) {
                case "block_1":
                    return vaeResnet(p + "resnets.0.", rest);
                case "block_2":
                    return vaeResnet(p + "resnets.1.", rest);
                default:
                    String[][] map = {{"norm.", "group_norm."}, {"q.", "to_q."}, {"k.", "to_k."}, {"v.", "to_v."},
                            {"proj_out.", "to_out.0."}};
                    for (String[] e : map) {
                        if (rest.startsWith(e[0])) {
                            String tail = rest.substring(e[0].length());
                            return new Mapped(p + "attentions.0." + e[1] + tail, !e[0].equals("norm.") && tail.equals("weight"));
                        }
                    }
                    return null;
            }
        }
        return null;
    }

    private static final Pattern UP_INDEX = Pattern.compile("^decoder\\.up\\.(\\d+)\\..*");

    /** The distinct {@code decoder.up.N} indices among {@code names}, descending (see {@link #vae}). */
    public static java.util.List<Integer> upIndices(Iterable<String> names) {
        java.util.TreeSet<Integer> s = new java.util.TreeSet<>(java.util.Comparator.reverseOrder());
        for (String n : names) {
            Matcher m = UP_INDEX.matcher(n);
            if (m.matches()) {
                s.add(Integer.parseInt(m.group(1)));
            }
        }
        return java.util.List.copyOf(s);
    }

    private static Mapped vaeResnet(String prefix, String rest) {
        for (String s : new String[] {"norm1.", "conv1.", "norm2.", "conv2."}) {
            if (rest.startsWith(s)) {
                return new Mapped(prefix + rest, false);
            }
        }
        return rest.startsWith("nin_shortcut.") ? new Mapped(prefix + "conv_shortcut." + rest.substring(13), false) : null;
    }

    /**
     * SD 1.x text encoder and SDXL's first: the checkpoint holds a Hugging Face {@code CLIPTextModel}
     * under {@code cond_stage_model.transformer.} / {@code conditioner.embedders.0.transformer.};
     * files written with transformers before 4.17 lack the {@code text_model.} level, which is added.
     */
    public static String hfClip(String name) {
        return name.startsWith("text_model.") ? name : "text_model." + name;
    }

    private static final Pattern RESBLOCK = Pattern.compile("^transformer\\.resblocks\\.(\\d+)\\.(.+)$");

    /**
     * An OpenCLIP name in transformers' layout: {@code qkvPart} 0/1/2 selects rows of a stacked
     * {@code in_proj}, -1 none; {@code layer} is the encoder layer (-1 outside the layers);
     * {@code transposed}: the weight is the transpose of the stored matrix.
     */
    public record ClipMapped(String name, int qkvPart, int layer, boolean transposed) {
    }

    /**
     * OpenCLIP text tower ({@code open_clip.model.CLIP}: SD 2.x's {@code cond_stage_model.model.},
     * SDXL's {@code conditioner.embedders.1.model.}) to transformers' {@code CLIPTextModel} /
     * {@code CLIPTextModelWithProjection} names: {@code ln_1/ln_2} are {@code layer_norm1/2},
     * {@code mlp.c_fc/c_proj} are {@code fc1/fc2}, {@code ln_final} the final layer norm, and the
     * stacked {@code attn.in_proj_weight} [3D, D] / {@code in_proj_bias} [3D] hold q, k, v in that
     * order (three entries, see {@link ClipMapped#qkvPart}). {@code text_projection} [D, P] is
     * applied as {@code x @ P} (OpenCLIP {@code encode_text}), transformers' {@code text_projection}
     * Linear [P, D] as {@code x W^T}: the same matrix transposed (diffusers
     * {@code convert_open_clip_checkpoint}). {@code logit_scale} (the contrastive temperature) has
     * no counterpart.
     *
     * @return the mapped names (three for {@code in_proj}), or null if the name has no counterpart
     */
    public static ClipMapped[] openClip(String name) {
        switch (name) {
            case "token_embedding.weight":
                return one("text_model.embeddings.token_embedding.weight");
            case "positional_embedding":
                return one("text_model.embeddings.position_embedding.weight");
            case "text_projection":
                return new ClipMapped[] {new ClipMapped("text_projection.weight", -1, -1, true)};
            default:
                break;
        }
        if (name.startsWith("ln_final.")) {
            return one("text_model.final_layer_norm." + name.substring(9));
        }
        Matcher m = RESBLOCK.matcher(name);
        if (!m.matches()) {
            return null;
        }
        int layer = Integer.parseInt(m.group(1));
        String p = "text_model.encoder.layers." + layer + ".";
        String rest = m.group(2);
        if (rest.equals("attn.in_proj_weight") || rest.equals("attn.in_proj_bias")) {
            String kind = rest.endsWith("weight") ? "weight" : "bias";
            return new ClipMapped[] {new ClipMapped(p + "self_attn.q_proj." + kind, 0, layer, false),
                    new ClipMapped(p + "self_attn.k_proj." + kind, 1, layer, false),
                    new ClipMapped(p + "self_attn.v_proj." + kind, 2, layer, false)};
        }
        String[][] map = {{"ln_1.", "layer_norm1."}, {"ln_2.", "layer_norm2."}, {"attn.out_proj.", "self_attn.out_proj."},
                {"mlp.c_fc.", "mlp.fc1."}, {"mlp.c_proj.", "mlp.fc2."}};
        for (String[] e : map) {
            if (rest.startsWith(e[0])) {
                return new ClipMapped[] {new ClipMapped(p + e[1] + rest.substring(e[0].length()), -1, layer, false)};
            }
        }
        return null;
    }

    private static ClipMapped[] one(String name) {
        return new ClipMapped[] {new ClipMapped(name, -1, -1, false)};
    }

    /**
     * The name under which LDM's {@code LitEma} keeps the EMA copy of a UNet weight:
     * {@code model_ema.} + the parameter's name below {@code model.} with the dots removed
     * ({@code model.diffusion_model.out.2.bias} -> {@code model_ema.diffusion_modelout2bias}).
     *
     * @param unetName a name relative to {@code model.diffusion_model.}
     */
    public static String emaName(String unetName) {
        return "model_ema." + ("diffusion_model." + unetName).replace(".", "");
    }
}
