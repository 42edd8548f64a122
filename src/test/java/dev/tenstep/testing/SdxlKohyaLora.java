package dev.tenstep.testing;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.model.lora.LoraNetwork;
import dev.tenstep.model.singlefile.UNetLayout;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * A kohya-style SDXL LoRA written for a model (no reference file of this layout exists in the fixtures): UNet
 * modules named in the original SGM layout ({@code lora_unet_input_blocks_K_S_...}, {@code middle_block_S_...},
 * {@code output_blocks_K_S_...}, {@code time_embed_0}, {@code label_emb_0_0}) as sd-scripts'
 * {@code sdxl_train_network.py} names them, text-encoder modules as {@code lora_te1_} / {@code lora_te2_} with
 * Hugging Face CLIP names, and one module that names no layer. Each module's SGM index is computed from the UNet
 * layout (input block {@code 1 + (L+1) i + j} for down level i, layer j; output block {@code (L+1) i + j} for up
 * level i; sub-module 0 resnet, 1 transformer, 2 upsampler after a transformer; diffusers
 * {@code convert_ldm_unet_checkpoint}), so the expected diffusers weight beside it is derived independently of the
 * code under test. Factors are seeded uniform numbers in [-0.1, 0.1), float32.
 */
public final class SdxlKohyaLora {
    private SdxlKohyaLora() {
    }

    /**
     * One module of the file.
     *
     * @param stem       the kohya key stem, e.g. {@code lora_unet_middle_block_1_proj_in}
     * @param component  the component it changes
     * @param weightName the diffusers weight it must change, e.g. {@code mid_block.attentions.0.proj_in.weight}
     * @param weight     that weight's shape ([out, in] or [out, in, kh, kw])
     * @param down       {@code lora_down}: [r, in] or [r, in, kh, kw], flat
     * @param up         {@code lora_up}: [out, r] or [out, r, 1, 1], flat
     * @param rank       r
     * @param alpha      the stored alpha, or null when the module has none (scale 1)
     */
    public record Module(String stem, LoraNetwork.Component component, String weightName, long[] weight, float[] down,
                         float[] up, int rank, Double alpha) {
        /** alpha / rank, 1 without alpha. */
        public double scale() {
            return alpha == null ? 1 : alpha / rank;
        }
    }

    /**
     * What {@link #write} wrote.
     *
     * @param modules     the modules that name a layer of the model
     * @param unknownKeys the keys of the module that names none (input block beyond the last level)
     */
    public record Written(List<Module> modules, List<String> unknownKeys) {
    }

    private record Want(String stem, LoraNetwork.Component component, String weightName, int rank, Double alpha) {
    }

    /**
     * Writes the file.
     *
     * @param file       the {@code .safetensors} to write
     * @param layout     the model's UNet layout (from its {@code unet/config.json})
     * @param te1Layers  {@code num_hidden_layers} of {@code text_encoder}
     * @param te2Layers  {@code num_hidden_layers} of {@code text_encoder_2}
     * @param shapes     per component, the model's weight shapes (each factor's shape follows its weight's)
     * @param seed       the factors' seed
     */
    public static Written write(Path file, UNetLayout layout, int te1Layers, int te2Layers,
                                Map<LoraNetwork.Component, Map<String, long[]>> shapes, long seed, NDManager m)
            throws IOException {
        int l = layout.layersPerBlock();
        int a = layout.downAttention().indexOf(true);
        int u = layout.upAttention().indexOf(true);
        int plain = layout.upAttention().indexOf(false);
        if (a < 0 || u < 0 || plain < 0 || u == layout.levels() - 1 || layout.levels() < 2) {
            fail("the UNet needs a down level with attention, an up level with attention below the last and one "
                    + "without: " + layout);
        }
        int inAttn = 1 + (l + 1) * a;
        int outAttn = (l + 1) * u + l;
        int dAttn = layout.depth()[a];
        LoraNetwork.Component unet = LoraNetwork.Component.UNET;
        List<Want> wants = List.of(
                new Want("lora_unet_input_blocks_" + inAttn + "_1_transformer_blocks_" + (dAttn - 1) + "_attn1_to_q", unet,
                        "down_blocks." + a + ".attentions.0.transformer_blocks." + (dAttn - 1) + ".attn1.to_q.weight", 2, 1.0),
                new Want("lora_unet_input_blocks_" + inAttn + "_1_transformer_blocks_0_attn2_to_k", unet,
                        "down_blocks." + a + ".attentions.0.transformer_blocks.0.attn2.to_k.weight", 3, 6.0),
                new Want("lora_unet_input_blocks_" + inAttn + "_0_skip_connection", unet,
                        "down_blocks." + a + ".resnets.0.conv_shortcut.weight", 2, null),
                // LoCon: a 3x3 convolution of the first level's last resnet
                new Want("lora_unet_input_blocks_" + l + "_0_in_layers_2", unet,
                        "down_blocks.0.resnets." + (l - 1) + ".conv1.weight", 2, 1.5),
                new Want("lora_unet_input_blocks_" + (l + 1) + "_0_op", unet, "down_blocks.0.downsamplers.0.conv.weight", 2, 2.0),
                new Want("lora_unet_middle_block_1_proj_in", unet, "mid_block.attentions.0.proj_in.weight", 2, 1.0),
                new Want("lora_unet_middle_block_1_transformer_blocks_" + (layout.midDepth() - 1) + "_ff_net_0_proj", unet,
                        "mid_block.attentions.0.transformer_blocks." + (layout.midDepth() - 1) + ".ff.net.0.proj.weight", 4, 2.0),
                new Want("lora_unet_middle_block_2_emb_layers_1", unet, "mid_block.resnets.1.time_emb_proj.weight", 2, 1.0),
                new Want("lora_unet_output_blocks_" + outAttn + "_1_transformer_blocks_" + (layout.upDepth(u) - 1) + "_attn1_to_out_0",
                        unet, "up_blocks." + u + ".attentions." + l + ".transformer_blocks." + (layout.upDepth(u) - 1)
                        + ".attn1.to_out.0.weight", 2, 1.0),
                new Want("lora_unet_output_blocks_" + outAttn + "_1_proj_out", unet,
                        "up_blocks." + u + ".attentions." + l + ".proj_out.weight", 3, 3.0),
                new Want("lora_unet_output_blocks_" + outAttn + "_2_conv", unet, "up_blocks." + u + ".upsamplers.0.conv.weight", 2, 1.0),
                new Want("lora_unet_output_blocks_" + ((l + 1) * plain) + "_0_out_layers_3", unet,
                        "up_blocks." + plain + ".resnets.0.conv2.weight", 2, 0.5),
                new Want("lora_unet_time_embed_0", unet, "time_embedding.linear_1.weight", 2, 1.0),
                new Want("lora_unet_label_emb_0_0", unet, "add_embedding.linear_1.weight", 2, 1.0),
                new Want("lora_te1_text_model_encoder_layers_0_self_attn_q_proj", LoraNetwork.Component.TEXT_ENCODER,
                        "text_model.encoder.layers.0.self_attn.q_proj.weight", 2, 1.0),
                new Want("lora_te1_text_model_encoder_layers_" + (te1Layers - 1) + "_mlp_fc1", LoraNetwork.Component.TEXT_ENCODER,
                        "text_model.encoder.layers." + (te1Layers - 1) + ".mlp.fc1.weight", 3, 1.0),
                new Want("lora_te2_text_model_encoder_layers_" + (te2Layers - 1) + "_mlp_fc2", LoraNetwork.Component.TEXT_ENCODER_2,
                        "text_model.encoder.layers." + (te2Layers - 1) + ".mlp.fc2.weight", 2, 2.0),
                new Want("lora_te2_text_model_encoder_layers_0_self_attn_out_proj", LoraNetwork.Component.TEXT_ENCODER_2,
                        "text_model.encoder.layers.0.self_attn.out_proj.weight", 2, null));
        SplittableRandom random = new SplittableRandom(seed);
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        List<Module> modules = new ArrayList<>();
        for (Want w : wants) {
            long[] s = shapes.getOrDefault(w.component(), Map.of()).get(w.weightName());
            if (s == null) {
                fail("the model has no weight " + w.component().prefix() + "." + w.weightName() + " for " + w.stem());
            }
            long[] downShape = s.length == 4 ? new long[] {w.rank(), s[1], s[2], s[3]} : new long[] {w.rank(), s[1]};
            long[] upShape = s.length == 4 ? new long[] {s[0], w.rank(), 1, 1} : new long[] {s[0], w.rank()};
            float[] down = uniform(random, new Shape(downShape).size());
            float[] up = uniform(random, new Shape(upShape).size());
            tensors.put(w.stem() + ".lora_down.weight", m.create(down, new Shape(downShape)));
            tensors.put(w.stem() + ".lora_up.weight", m.create(up, new Shape(upShape)));
            if (w.alpha() != null) {
                tensors.put(w.stem() + ".alpha", m.create(w.alpha().floatValue()));
            }
            modules.add(new Module(w.stem(), w.component(), w.weightName(), s, down, up, w.rank(), w.alpha()));
        }
        // an input block one level beyond the last: no module of the model
        String unknown = "lora_unet_input_blocks_" + (1 + (l + 1) * layout.levels()) + "_1_proj_in";
        tensors.put(unknown + ".alpha", m.create(1f));
        tensors.put(unknown + ".lora_down.weight", m.create(uniform(random, 8), new Shape(2, 4)));
        tensors.put(unknown + ".lora_up.weight", m.create(uniform(random, 8), new Shape(4, 2)));
        List<String> unknownKeys = List.of(unknown + ".alpha", unknown + ".lora_down.weight", unknown + ".lora_up.weight");
        SafeTensors.write(file, tensors, Map.of("ss_base_model_version", "sdxl_base_v1-0",
                "modelspec.architecture", "stable-diffusion-xl-v1-base/lora", "ss_network_module", "networks.lora"));
        return new Written(List.copyOf(modules), unknownKeys);
    }

    private static float[] uniform(SplittableRandom random, long n) {
        float[] out = new float[Math.toIntExact(n)];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) random.nextDouble(-0.1, 0.1);
        }
        return out;
    }

    /**
     * The merged weight a module must give, in double precision: {@code W + multiplier * (alpha / rank) * up @ down}
     * reshaped to W's shape (A1111 {@code network_lora.py} {@code calc_updown}), flat.
     */
    public static double[] expectedMerged(Module mo, float[] base, double multiplier) {
        long rest = base.length / mo.weight()[0];
        double[] out = new double[base.length];
        for (int o = 0; o < mo.weight()[0]; o++) {
            for (int x = 0; x < rest; x++) {
                double d = 0;
                for (int r = 0; r < mo.rank(); r++) {
                    d += (double) mo.up()[o * mo.rank() + r] * mo.down()[(int) (r * rest + x)];
                }
                int i = (int) (o * rest + x);
                out[i] = base[i] + multiplier * mo.scale() * d;
            }
        }
        return out;
    }
}
