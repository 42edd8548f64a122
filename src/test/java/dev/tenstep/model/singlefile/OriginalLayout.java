package dev.tenstep.model.singlefile;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.io.DType;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.io.TensorFile;
import dev.tenstep.model.config.Configs;
import dev.tenstep.model.config.TextEncoderConfig;
import dev.tenstep.model.config.UNetConfig;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * Test support: the key set and shapes of a release's single-file checkpoint, built from its
 * diffusers configs (the names the loaders ask for, via {@link Release#expectedShapes}) and
 * converted to the CompVis layout independently of {@link CheckpointKeys} (the direction of
 * diffusers' {@code convert_diffusers_to_original_stable_diffusion.py}). No weight is allocated:
 * the resulting {@link TensorFile} has shapes only, and loads only the tensors a test supplies.
 */
final class OriginalLayout {
    private OriginalLayout() {
    }

    /** name -> shape of the checkpoint that the configs in {@code configDir} describe. */
    static Map<String, long[]> keys(Path configDir) {
        Map<String, Map<String, long[]>> d = Release.expectedShapes(configDir);
        UNetConfig uc = Configs.read(configDir.resolve("unet/config.json"), UNetConfig.class);
        TextEncoderConfig tc = Configs.read(configDir.resolve("text_encoder/config.json"), TextEncoderConfig.class);
        Map<String, long[]> out = new LinkedHashMap<>();
        for (var e : d.get("unet").entrySet()) {
            out.put("model.diffusion_model." + unet(e.getKey(), uc), e.getValue());
        }
        int levels = d.get("vae").keySet().stream().filter(k -> k.startsWith("decoder.up_blocks.")).map(k -> k.split("\\.")[2])
                .distinct().toList().size();
        for (var e : d.get("vae").entrySet()) {
            long[] s = e.getValue();
            String k = vae(e.getKey(), levels);
            if (k.contains(".attn_1.") && k.endsWith("weight") && !k.contains(".norm.")) {
                s = new long[] {s[0], s[1], 1, 1};
            }
            out.put("first_stage_model." + k, s);
        }
        boolean openClip = tc.hiddenAct().equals("gelu");
        Map<String, long[]> te = d.get("text_encoder");
        if (!openClip) {
            te.forEach((k, s) -> out.put("cond_stage_model.transformer." + k, s));
            out.put("cond_stage_model.transformer.text_model.embeddings.position_ids", new long[] {1, 77});
        } else {
            long w = tc.hiddenSize();
            for (var e : te.entrySet()) {
                String k = openClip(e.getKey());
                if (k != null) {
                    out.put("cond_stage_model.model." + k, e.getValue());
                }
            }
            // the stacked q/k/v of every block, and the last block that SD 2.x does not use
            for (int l = 0; l <= tc.numHiddenLayers(); l++) {
                String p = "cond_stage_model.model.transformer.resblocks." + l + ".";
                out.put(p + "attn.in_proj_weight", new long[] {3 * w, w});
                out.put(p + "attn.in_proj_bias", new long[] {3 * w});
                if (l == tc.numHiddenLayers()) {
                    out.put(p + "attn.out_proj.weight", new long[] {w, w});
                    out.put(p + "attn.out_proj.bias", new long[] {w});
                    for (String ln : new String[] {"ln_1", "ln_2"}) {
                        out.put(p + ln + ".weight", new long[] {w});
                        out.put(p + ln + ".bias", new long[] {w});
                    }
                    out.put(p + "mlp.c_fc.weight", new long[] {tc.intermediateSize(), w});
                    out.put(p + "mlp.c_fc.bias", new long[] {tc.intermediateSize()});
                    out.put(p + "mlp.c_proj.weight", new long[] {w, tc.intermediateSize()});
                    out.put(p + "mlp.c_proj.bias", new long[] {w});
                }
            }
            out.put("cond_stage_model.model.text_projection", new long[] {w, w});
            out.put("cond_stage_model.model.logit_scale", new long[] {});
        }
        for (String b : new String[] {"betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
                "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
                "posterior_mean_coef1", "posterior_mean_coef2"}) {
            out.put(b, new long[] {1000});
        }
        out.put("model_ema.decay", new long[] {});
        out.put("model_ema.num_updates", new long[] {});
        return out;
    }

    private static String unet(String k, UNetConfig c) {
        int n = c.layersPerBlock();
        String[][] simple = {{"time_embedding.linear_1.", "time_embed.0."}, {"time_embedding.linear_2.", "time_embed.2."},
                {"conv_in.", "input_blocks.0.0."}, {"conv_norm_out.", "out.0."}, {"conv_out.", "out.2."}};
        for (String[] s : simple) {
            if (k.startsWith(s[0])) {
                return s[1] + k.substring(s[0].length());
            }
        }
        String[] p = k.split("\\.");
        if (k.startsWith("mid_block.")) {
            String rest = k.substring(("mid_block." + p[1] + "." + p[2] + ".").length());
            return p[1].equals("attentions") ? "middle_block.1." + rest : "middle_block." + (p[2].equals("0") ? 0 : 2) + "." + res(rest);
        }
        int i = Integer.parseInt(p[1]);
        String rest = k.substring((p[0] + "." + p[1] + "." + p[2] + "." + p[3] + ".").length());
        if (k.startsWith("down_blocks.")) {
            int j = Integer.parseInt(p[3]);
            return switch (p[2]) {
                case "resnets" -> "input_blocks." + ((n + 1) * i + j + 1) + ".0." + res(rest);
                case "attentions" -> "input_blocks." + ((n + 1) * i + j + 1) + ".1." + rest;
                default -> "input_blocks." + ((n + 1) * (i + 1)) + ".0.op." + rest.substring("conv.".length());
            };
        }
        int j = Integer.parseInt(p[3]);
        boolean attn = c.upBlockTypes().get(i).startsWith("CrossAttn");
        return switch (p[2]) {
            case "resnets" -> "output_blocks." + ((n + 1) * i + j) + ".0." + res(rest);
            case "attentions" -> "output_blocks." + ((n + 1) * i + j) + ".1." + rest;
            default -> "output_blocks." + ((n + 1) * i + n) + "." + (attn ? 2 : 1) + "." + rest;
        };
    }

    private static String res(String rest) {
        String[][] m = {{"norm1.", "in_layers.0."}, {"conv1.", "in_layers.2."}, {"time_emb_proj.", "emb_layers.1."},
                {"norm2.", "out_layers.0."}, {"conv2.", "out_layers.3."}, {"conv_shortcut.", "skip_connection."}};
        for (String[] e : m) {
            if (rest.startsWith(e[0])) {
                return e[1] + rest.substring(e[0].length());
            }
        }
        throw new IllegalArgumentException(rest);
    }

    private static String vae(String k, int levels) {
        k = k.replace(".conv_norm_out.", ".norm_out.").replace(".conv_shortcut.", ".nin_shortcut.")
                .replace("mid_block.resnets.0.", "mid.block_1.").replace("mid_block.resnets.1.", "mid.block_2.")
                .replace("mid_block.attentions.0.group_norm.", "mid.attn_1.norm.")
                .replace("mid_block.attentions.0.to_q.", "mid.attn_1.q.").replace("mid_block.attentions.0.to_k.", "mid.attn_1.k.")
                .replace("mid_block.attentions.0.to_v.", "mid.attn_1.v.").replace("mid_block.attentions.0.to_out.0.", "mid.attn_1.proj_out.")
                .replace(".downsamplers.0.", ".downsample.").replace(".upsamplers.0.", ".upsample.").replace(".resnets.", ".block.");
        if (k.startsWith("encoder.down_blocks.")) {
            return "encoder.down." + k.substring("encoder.down_blocks.".length());
        }
        if (k.startsWith("decoder.up_blocks.")) {
            String[] p = k.split("\\.", 4);
            return "decoder.up." + (levels - 1 - Integer.parseInt(p[2])) + "." + p[3];
        }
        return k;
    }

    private static String openClip(String k) {
        if (k.equals("text_model.embeddings.token_embedding.weight")) {
            return "token_embedding.weight";
        }
        if (k.equals("text_model.embeddings.position_embedding.weight")) {
            return "positional_embedding";
        }
        if (k.startsWith("text_model.final_layer_norm.")) {
            return "ln_final." + k.substring("text_model.final_layer_norm.".length());
        }
        String[] p = k.split("\\.", 5);
        String rest = p[4];
        if (rest.contains("q_proj") || rest.contains("k_proj") || rest.contains("v_proj")) {
            return null; // stacked into in_proj
        }
        rest = rest.replace("layer_norm1.", "ln_1.").replace("layer_norm2.", "ln_2.").replace("self_attn.out_proj.", "attn.out_proj.")
                .replace("mlp.fc1.", "mlp.c_fc.").replace("mlp.fc2.", "mlp.c_proj.");
        return "transformer.resblocks." + p[3] + "." + rest;
    }

    /** A shapes-only {@link TensorFile}: every tensor is F32 at a fake offset; {@code values} supplies the few a test loads. */
    static TensorFile file(Map<String, long[]> shapes, Function<String, float[]> values) {
        Map<String, SafeTensors.TensorInfo> infos = new LinkedHashMap<>();
        long offset = 0;
        for (var e : shapes.entrySet()) {
            long count = 1;
            for (long d : e.getValue()) {
                count *= d;
            }
            infos.put(e.getKey(), new SafeTensors.TensorInfo(e.getKey(), DType.F32, e.getValue(), offset, offset + 4 * count));
            offset += 4 * count;
        }
        Map<Long, String> byOffset = new java.util.HashMap<>();
        infos.values().forEach(i -> byOffset.put(i.begin(), i.name()));
        return new TensorFile() {
            @Override
            public Path file() {
                return Path.of("release-shapes.safetensors");
            }

            @Override
            public Map<String, SafeTensors.TensorInfo> tensors() {
                return infos;
            }

            @Override
            public NDArray load(NDManager manager, SafeTensors.TensorInfo info) {
                float[] v = values.apply(byOffset.get(info.begin()));
                if (v == null) {
                    throw new AssertionError("the test has no values for " + info.name());
                }
                return manager.create(v, info.djlShape());
            }

            @Override
            public void close() {
            }
        };
    }
}
