package dev.tenstep.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.model.config.TextEncoderConfig;
import dev.tenstep.model.config.UNetConfig;
import dev.tenstep.model.config.VaeConfig;

import java.util.List;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The sizes of a trained pipeline, as the config.json files of its components (diffusers and
 * transformers keys, Stable Diffusion 1.x architecture): a CLIP text encoder with CLIP's full
 * vocabulary (49408 tokens, so the real tokenizer applies), a UNet with cross-attention and an
 * AutoencoderKL with 4 latent channels.
 *
 * @param textHidden     text encoder {@code hidden_size} (also the UNet's {@code cross_attention_dim})
 * @param textLayers     text encoder {@code num_hidden_layers}
 * @param textHeads      text encoder {@code num_attention_heads}
 * @param unetChannels   UNet {@code block_out_channels}
 * @param unetAttention  per UNet level, whether it has cross-attention (CrossAttnDownBlock2D); the
 *                       up blocks mirror it
 * @param unetHeads      UNet {@code attention_head_dim} (diffusers' name for the head count)
 * @param unetLayers     UNet {@code layers_per_block}
 * @param vaeChannels    VAE {@code block_out_channels} (image / latent = 2^(levels - 1))
 * @param vaeLayers      VAE {@code layers_per_block}
 * @param groups         GroupNorm groups of the UNet
 * @param vaeGroups      GroupNorm groups of the VAE ({@code norm_num_groups} of its config)
 * @param imageSize      training picture side in pixels
 */
public record ModelSizes(int textHidden, int textLayers, int textHeads, int[] unetChannels, boolean[] unetAttention,
                         int unetHeads, int unetLayers, int[] vaeChannels, int vaeLayers, int groups, int vaeGroups,
                         int imageSize) {
    /** CLIP's vocabulary size: the bundled tokenizer's ids run up to 49407. */
    public static final int VOCAB = 49408;
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * The sizes of the shipped model: text encoder 64 wide, 2 layers, 4 heads (3.27 M weights, 3.16 M
     * of them CLIP's token table); UNet [64, 96, 128] with cross-attention at the 16 x 16 and 8 x 8
     * latent levels and in the mid block, 4 heads (4.73 M); VAE [32, 64, 64] (0.95 M; 64 x 64
     * pictures, 4 x 16 x 16 latents). 8.95 M weights: 17.9 MB in fp16 (UNet [64, 128, 128] would
     * make 20.1 MB).
     *
     * <p>The VAE normalises with one group (GroupNorm(1, C), a layer norm over C x H x W), the UNet with 16. Why:
     * a group normalisation erases each group's mean and scale over the picture, and the shapes pictures are mostly
     * one flat colour. With 16 groups of 2 channels, a flat region of a group's two channels comes out as +-1, so
     * the VAE's last norm ({@code conv_norm_out}, which has no skip path around it) leaves little more than a sign
     * per group of the background's and the shape's colours. One group keeps the pattern across all C channels up
     * to one scale and shift. Measured (600 stage-1 steps, seed 1, docs/trained-model.md): held-out L1 0.085
     * against 0.093, and more shapes read back in colour and shape.
     */
    public static ModelSizes small() {
        return new ModelSizes(64, 2, 4, new int[] {64, 96, 128}, new boolean[] {true, true, false}, 4, 1,
                new int[] {32, 64, 64}, 1, 16, 1, 64);
    }

    /** Tiny sizes for tests (seconds per step on a CPU core): 32x32 pictures, 8 x 8 latents. */
    public static ModelSizes tiny() {
        return new ModelSizes(16, 1, 2, new int[] {16, 32}, new boolean[] {true, false}, 2, 1,
                new int[] {8, 16, 16}, 1, 4, 4, 32);
    }

    /**
     * A preset by name.
     *
     * @throws IllegalArgumentException naming the presets
     */
    public static ModelSizes named(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "small" -> small();
            case "tiny" -> tiny();
            default -> throw new IllegalArgumentException("--sizes must be small or tiny, got '" + name + "'");
        };
    }

    /** Image side / latent side. */
    public int vaeScale() {
        return 1 << (vaeChannels.length - 1);
    }

    /** Latent side for {@link #imageSize}. */
    public int latentSize() {
        return imageSize / vaeScale();
    }

    /** {@code text_encoder/config.json}. */
    public Map<String, Object> textEncoderJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("architectures", List.of("CLIPTextModel"));
        m.put("attention_dropout", 0.0);
        m.put("bos_token_id", 0);
        m.put("dropout", 0.0);
        m.put("eos_token_id", 2);
        m.put("hidden_act", "quick_gelu");
        m.put("hidden_size", textHidden);
        m.put("initializer_factor", 1.0);
        m.put("initializer_range", 0.02);
        m.put("intermediate_size", 4 * textHidden);
        m.put("layer_norm_eps", 1e-5);
        m.put("max_position_embeddings", 77);
        m.put("model_type", "clip_text_model");
        m.put("num_attention_heads", textHeads);
        m.put("num_hidden_layers", textLayers);
        m.put("pad_token_id", 1);
        m.put("projection_dim", textHidden);
        m.put("torch_dtype", "float32");
        m.put("vocab_size", VOCAB);
        return m;
    }

    /** {@code unet/config.json}. */
    public Map<String, Object> unetJson() {
        List<String> down = new java.util.ArrayList<>();
        List<String> up = new java.util.ArrayList<>();
        for (boolean a : unetAttention) {
            down.add(a ? "CrossAttnDownBlock2D" : "DownBlock2D");
        }
        for (int i = unetAttention.length - 1; i >= 0; i--) {
            up.add(unetAttention[i] ? "CrossAttnUpBlock2D" : "UpBlock2D");
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("_class_name", "UNet2DConditionModel");
        m.put("_diffusers_version", "0.27.2");
        m.put("act_fn", "silu");
        m.put("attention_head_dim", unetHeads);
        m.put("block_out_channels", toList(unetChannels));
        m.put("center_input_sample", false);
        m.put("cross_attention_dim", textHidden);
        m.put("down_block_types", down);
        m.put("downsample_padding", 1);
        m.put("flip_sin_to_cos", true);
        m.put("freq_shift", 0);
        m.put("in_channels", 4);
        m.put("layers_per_block", unetLayers);
        m.put("mid_block_scale_factor", 1);
        m.put("mid_block_type", "UNetMidBlock2DCrossAttn");
        m.put("norm_eps", 1e-5);
        m.put("norm_num_groups", groups);
        m.put("out_channels", 4);
        m.put("sample_size", latentSize());
        m.put("up_block_types", up);
        m.put("upcast_attention", false);
        m.put("use_linear_projection", false);
        return m;
    }

    /** {@code vae/config.json} with the given {@code scaling_factor}. */
    public Map<String, Object> vaeJson(double scalingFactor) {
        List<String> down = new java.util.ArrayList<>();
        List<String> up = new java.util.ArrayList<>();
        for (int i = 0; i < vaeChannels.length; i++) {
            down.add("DownEncoderBlock2D");
            up.add("UpDecoderBlock2D");
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("_class_name", "AutoencoderKL");
        m.put("_diffusers_version", "0.27.2");
        m.put("act_fn", "silu");
        m.put("block_out_channels", toList(vaeChannels));
        m.put("down_block_types", down);
        m.put("in_channels", 3);
        m.put("latent_channels", 4);
        m.put("layers_per_block", vaeLayers);
        m.put("norm_num_groups", vaeGroups);
        m.put("out_channels", 3);
        m.put("sample_size", imageSize);
        m.put("scaling_factor", scalingFactor);
        m.put("up_block_types", up);
        return m;
    }

    /** The parsed configs, as the loader reads them. */
    public TextEncoderConfig textEncoderConfig() {
        return JSON.convertValue(textEncoderJson(), TextEncoderConfig.class);
    }

    public UNetConfig unetConfig() {
        return JSON.convertValue(unetJson(), UNetConfig.class);
    }

    public VaeConfig vaeConfig() {
        return JSON.convertValue(vaeJson(0.18215), VaeConfig.class);
    }

    /** One line naming the sizes (for the log and the progress output). */
    public String describe() {
        return "text encoder " + textHidden + " x " + textLayers + " layers, UNet " + java.util.Arrays.toString(unetChannels)
                + " attention " + java.util.Arrays.toString(unetAttention) + ", VAE " + java.util.Arrays.toString(vaeChannels)
                + ", " + imageSize + " px";
    }

    private static List<Integer> toList(int[] a) {
        List<Integer> l = new java.util.ArrayList<>();
        for (int x : a) {
            l.add(x);
        }
        return l;
    }
}
