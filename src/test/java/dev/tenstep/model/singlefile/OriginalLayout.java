package dev.tenstep.model.singlefile;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.io.DType;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.io.TensorFile;
import dev.tenstep.model.config.Configs;
import dev.tenstep.model.config.TextEncoderConfig;
import dev.tenstep.model.config.UNetConfig;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
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
    private static final ObjectMapper JSON = new ObjectMapper();

    private OriginalLayout() {
    }

    /** name -> shape of the checkpoint that the configs in {@code configDir} describe. */
    static Map<String, long[]> keys(Path configDir) {
        Map<String, Map<String, long[]>> d = Release.expectedShapes(configDir);
        UNetConfig uc = Configs.read(configDir.resolve("unet/config.json"), UNetConfig.class);
        TextEncoderConfig tc = Configs.read(configDir.resolve("text_encoder/config.json"), TextEncoderConfig.class);
        Map<String, long[]> out = new LinkedHashMap<>();
        for (var e : d.get("unet").entrySet()) {
            out.put("model.diffusion_model." + unet(e.getKey(), uc.layersPerBlock(), uc.upBlockTypes()), e.getValue());
        }
        putVae(d.get("vae"), out);
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

    private static void putVae(Map<String, long[]> diffusers, Map<String, long[]> out) {
        int levels = diffusers.keySet().stream().filter(k -> k.startsWith("decoder.up_blocks.")).map(k -> k.split("\\.")[2])
                .distinct().toList().size();
        for (var e : diffusers.entrySet()) {
            long[] s = e.getValue();
            String k = vae(e.getKey(), levels);
            if (k.contains(".attn_1.") && k.endsWith("weight") && !k.contains(".norm.")) {
                s = new long[] {s[0], s[1], 1, 1};
            }
            out.put("first_stage_model." + k, s);
        }
    }

    /**
     * name -> shape of the SGM checkpoint (SDXL, {@code sd_xl_base_1.0.safetensors} layout) that the
     * configs in {@code configDir} describe: text encoders and VAE from the models' own shapes, the
     * UNet from {@link #sdxlUnetShapes}.
     */
    static Map<String, long[]> sdxlKeys(Path configDir) throws IOException {
        Map<String, long[]> out = new LinkedHashMap<>();
        JsonNode unetConfig = JSON.readTree(configDir.resolve("unet/config.json").toFile());
        List<String> up = new ArrayList<>();
        unetConfig.get("up_block_types").forEach(t -> up.add(t.asText()));
        for (var e : sdxlUnetShapes(unetConfig).entrySet()) {
            out.put("model.diffusion_model." + unet(e.getKey(), unetConfig.get("layers_per_block").asInt(), up), e.getValue());
        }
        putVae(Release.vaeShapes(configDir.resolve("vae/config.json")), out);
        Release.textEncoderShapes(configDir.resolve("text_encoder/config.json"))
                .forEach((k, s) -> out.put("conditioner.embedders.0.transformer." + k, s));
        out.put("conditioner.embedders.0.transformer.text_model.embeddings.position_ids", new long[] {1, 77});
        Path te2 = configDir.resolve("text_encoder_2/config.json");
        TextEncoderConfig tc = Configs.read(te2, TextEncoderConfig.class);
        String p2 = "conditioner.embedders.1.model.";
        for (var e : Release.textEncoderShapes(te2).entrySet()) {
            String k = openClip(e.getKey());
            if (k != null) {
                out.put(p2 + k, e.getValue());
            }
        }
        long w = tc.hiddenSize();
        for (int l = 0; l < tc.numHiddenLayers(); l++) {
            out.put(p2 + "transformer.resblocks." + l + ".attn.in_proj_weight", new long[] {3 * w, w});
            out.put(p2 + "transformer.resblocks." + l + ".attn.in_proj_bias", new long[] {3 * w});
        }
        out.put(p2 + "text_projection", new long[] {w, JSON.readTree(te2.toFile()).get("projection_dim").asLong()});
        out.put(p2 + "logit_scale", new long[] {});
        return out;
    }

    /**
     * Every weight of a diffusers {@code UNet2DConditionModel} with SDXL's options (text-time added
     * embedding, linear projections, per-level transformer depth), by diffusers name, written out
     * from diffusers' {@code unet_2d_condition.py} / {@code unet_2d_blocks.py} independently of the
     * product code (whose UNet reads SD 1.x/2.x configs only); checked against the tiny-sdxl folder.
     */
    static Map<String, long[]> sdxlUnetShapes(JsonNode c) {
        Map<String, long[]> out = new LinkedHashMap<>();
        int[] ch = ints(c.get("block_out_channels"));
        int levels = ch.length;
        int n = c.get("layers_per_block").asInt();
        int[] depth = ints(c.get("transformer_layers_per_block"));
        int cross = c.get("cross_attention_dim").asInt();
        int t = 4 * ch[0];
        linear(out, "time_embedding.linear_1", t, ch[0], true);
        linear(out, "time_embedding.linear_2", t, t, true);
        linear(out, "add_embedding.linear_1", t, c.get("projection_class_embeddings_input_dim").asInt(), true);
        linear(out, "add_embedding.linear_2", t, t, true);
        conv(out, "conv_in", ch[0], c.get("in_channels").asInt(), 3);
        List<Integer> skips = new ArrayList<>(List.of(ch[0]));
        for (int i = 0; i < levels; i++) {
            boolean attn = c.get("down_block_types").get(i).asText().startsWith("CrossAttn");
            for (int j = 0; j < n; j++) {
                int in = j == 0 ? (i == 0 ? ch[0] : ch[i - 1]) : ch[i];
                resnet(out, "down_blocks." + i + ".resnets." + j, in, ch[i], t);
                if (attn) {
                    transformer(out, "down_blocks." + i + ".attentions." + j, ch[i], depth[i], cross);
                }
                skips.add(ch[i]);
            }
            if (i < levels - 1) {
                conv(out, "down_blocks." + i + ".downsamplers.0.conv", ch[i], ch[i], 3);
                skips.add(ch[i]);
            }
        }
        int last = ch[levels - 1];
        resnet(out, "mid_block.resnets.0", last, last, t);
        transformer(out, "mid_block.attentions.0", last, depth[levels - 1], cross);
        resnet(out, "mid_block.resnets.1", last, last, t);
        int prev = last;
        for (int i = 0; i < levels; i++) {
            int o = ch[levels - 1 - i];
            boolean attn = c.get("up_block_types").get(i).asText().startsWith("CrossAttn");
            for (int j = 0; j <= n; j++) {
                // each up resnet takes the previous output concatenated with the matching down skip
                int skip = skips.remove(skips.size() - 1);
                resnet(out, "up_blocks." + i + ".resnets." + j, (j == 0 ? prev : o) + skip, o, t);
                if (attn) {
                    transformer(out, "up_blocks." + i + ".attentions." + j, o, depth[levels - 1 - i], cross);
                }
            }
            if (i < levels - 1) {
                conv(out, "up_blocks." + i + ".upsamplers.0.conv", o, o, 3);
            }
            prev = o;
        }
        out.put("conv_norm_out.weight", new long[] {ch[0]});
        out.put("conv_norm_out.bias", new long[] {ch[0]});
        conv(out, "conv_out", c.get("out_channels").asInt(), ch[0], 3);
        return out;
    }

    private static int[] ints(JsonNode n) {
        int[] out = new int[n.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = n.get(i).asInt();
        }
        return out;
    }

    private static void linear(Map<String, long[]> out, String p, long o, long i, boolean bias) {
        out.put(p + ".weight", new long[] {o, i});
        if (bias) {
            out.put(p + ".bias", new long[] {o});
        }
    }

    private static void conv(Map<String, long[]> out, String p, long o, long i, long k) {
        out.put(p + ".weight", new long[] {o, i, k, k});
        out.put(p + ".bias", new long[] {o});
    }

    private static void norm(Map<String, long[]> out, String p, long c) {
        out.put(p + ".weight", new long[] {c});
        out.put(p + ".bias", new long[] {c});
    }

    private static void resnet(Map<String, long[]> out, String p, int in, int o, int t) {
        norm(out, p + ".norm1", in);
        conv(out, p + ".conv1", o, in, 3);
        linear(out, p + ".time_emb_proj", o, t, true);
        norm(out, p + ".norm2", o);
        conv(out, p + ".conv2", o, o, 3);
        if (in != o) {
            conv(out, p + ".conv_shortcut", o, in, 1);
        }
    }

    private static void transformer(Map<String, long[]> out, String p, int c, int depth, int cross) {
        norm(out, p + ".norm", c);
        linear(out, p + ".proj_in", c, c, true);
        for (int k = 0; k < depth; k++) {
            String b = p + ".transformer_blocks." + k;
            for (String a : new String[] {"attn1", "attn2"}) {
                int kv = a.equals("attn1") ? c : cross;
                linear(out, b + "." + a + ".to_q", c, c, false);
                linear(out, b + "." + a + ".to_k", c, kv, false);
                linear(out, b + "." + a + ".to_v", c, kv, false);
                linear(out, b + "." + a + ".to_out.0", c, c, true);
            }
            for (String nm : new String[] {"norm1", "norm2", "norm3"}) {
                norm(out, b + "." + nm, c);
            }
            linear(out, b + ".ff.net.0.proj", 8L * c, c, true); // GEGLU: value and gate, 4c each
            linear(out, b + ".ff.net.2", c, 4L * c, true);
        }
        linear(out, p + ".proj_out", c, c, true);
    }

    private static String unet(String k, int n, List<String> upBlockTypes) {
        String[][] simple = {{"time_embedding.linear_1.", "time_embed.0."}, {"time_embedding.linear_2.", "time_embed.2."},
                {"add_embedding.linear_1.", "label_emb.0.0."}, {"add_embedding.linear_2.", "label_emb.0.2."},
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
        boolean attn = upBlockTypes.get(i).startsWith("CrossAttn");
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
        if (k.equals("text_projection.weight")) {
            return null; // the SGM file holds its transpose, put by the caller as "text_projection"
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
