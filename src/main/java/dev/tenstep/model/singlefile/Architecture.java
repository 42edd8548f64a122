package dev.tenstep.model.singlefile;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.io.TensorFile;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.model.config.Configs;
import dev.tenstep.model.config.TextEncoderConfig;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Recognises which Stable Diffusion release a single-file checkpoint is from its tensor shapes,
 * as {@code from_single_file} and the web UIs do when no config is given.
 *
 * <ul>
 *   <li>Text encoder layout and width: Hugging Face CLIP (768) = SD 1.x, OpenCLIP (1024) = SD 2.x;
 *       the UNet's cross-attention width must agree.</li>
 *   <li>SD 2.x base (512 px, epsilon) and SD 2.x 768 (v-prediction) have identical shapes. In
 *       order: an explicit prediction type decides; a Lightning {@code global_step} of 875000
 *       (2.0-v) or 110000 (2.1-v) means 768-v (diffusers' rule); otherwise ComfyUI's statistic:
 *       the v-prediction models' {@code output_blocks.11.1.transformer_blocks.0.norm1.bias} has a
 *       population standard deviation above 0.09 (ComfyUI {@code supported_models.SD20.model_type}).</li>
 *   <li>SGM's {@code conditioner.embedders.*} text encoders mean SDXL base (refiner files are
 *       refused when opened, see {@link SingleFileCheckpoint}).</li>
 *   <li>Then every tensor of the networks is compared with the release's configuration (names and
 *       shapes, as the strict loaders will ask for them); any difference means the checkpoint is of
 *       another architecture, and the error lists the shapes found and asks for
 *       {@code --config DIR}. For SDXL the two text encoders and the VAE are compared tensor by
 *       tensor; the UNet's block structure is compared with its config ({@link #unetStructure}:
 *       widths, which levels have attention, transformer depths, the added embedding), since this
 *       build's UNet model reads SD 1.x/2.x configs only.</li>
 * </ul>
 */
public final class Architecture {
    /** The UNet tensor of ComfyUI's v-prediction statistic (SD 2.x). */
    static final String V_PROBE = "output_blocks.11.1.transformer_blocks.0.norm1.bias";
    static final double V_PROBE_STD = 0.09;
    /** {@code global_step} of the SD 2.0-v and SD 2.1-v release checkpoints (diffusers {@code convert_from_ckpt}). */
    static final Set<Long> V_GLOBAL_STEPS = Set.of(875000L, 110000L);

    /** The recognised release and why (for the log line). */
    public record Inferred(Release release, String reason) {
    }

    private Architecture() {
    }

    /**
     * Recognises the release of {@code ckpt}.
     *
     * @param predictionType "epsilon", "v_prediction" or null (infer)
     * @throws ModelLoadException listing the shapes found and asking for {@code --config} when no
     *                            release matches
     */
    public static Inferred infer(SingleFileCheckpoint ckpt, String predictionType) {
        Release release;
        String reason;
        if (ckpt.isSdxl()) {
            // SDXL base is epsilon; a prediction type given applies to the scheduler, not to the shapes
            release = Release.SDXL_BASE;
            reason = "SGM layout: CLIP and OpenCLIP text encoders (conditioner.embedders.0/1)";
        } else if (ckpt.textEncoderKind() == SingleFileCheckpoint.TextEncoderKind.HF_CLIP) {
            release = Release.SD_1_5;
            reason = "CLIP text encoder (cond_stage_model.transformer)";
        } else {
            SafeTensors.TensorInfo probe = ckpt.unetTensors().get(V_PROBE);
            if (predictionType != null) {
                release = predictionType.equals("v_prediction") ? Release.SD_2_1_768_V : Release.SD_2_1_BASE;
                reason = "OpenCLIP text encoder, prediction type " + predictionType + " given";
            } else if (ckpt.globalStep().isPresent()) {
                long step = ckpt.globalStep().getAsLong();
                release = V_GLOBAL_STEPS.contains(step) ? Release.SD_2_1_768_V : Release.SD_2_1_BASE;
                reason = "OpenCLIP text encoder, global_step " + step;
            } else if (probe != null && probe.shape().length == 1) {
                double std = std(ckpt.values(probe));
                release = std > V_PROBE_STD ? Release.SD_2_1_768_V : Release.SD_2_1_BASE;
                reason = String.format(java.util.Locale.ROOT, "OpenCLIP text encoder, std of %s = %.4f %s %.2f",
                        V_PROBE, std, std > V_PROBE_STD ? ">" : "<=", V_PROBE_STD);
            } else {
                throw mismatch(ckpt, Release.SD_2_1_BASE, List.of("no tensor model.diffusion_model." + V_PROBE));
            }
        }
        List<String> diffs = differences(ckpt, release.configDir());
        if (!diffs.isEmpty()) {
            throw mismatch(ckpt, release, diffs);
        }
        return new Inferred(release, reason);
    }

    /** Population standard deviation. */
    static double std(double[] v) {
        double mean = 0;
        for (double x : v) {
            mean += x;
        }
        mean /= v.length;
        double var = 0;
        for (double x : v) {
            var += (x - mean) * (x - mean);
        }
        return Math.sqrt(var / v.length);
    }

    /**
     * How the checkpoint's networks differ from what the configs in {@code configDir} need: missing,
     * unexpected and mis-shaped tensors (diffusers names), at most a few per network.
     */
    public static List<String> differences(SingleFileCheckpoint ckpt, Path configDir) {
        if (ckpt.isSdxl()) {
            return sdxlDifferences(ckpt, configDir);
        }
        Map<String, Map<String, long[]>> expected = Release.expectedShapes(configDir);
        List<String> out = new ArrayList<>();
        compare("text encoder", expected.get("text_encoder"),
                ckpt.textEncoder(Configs.read(configDir.resolve("text_encoder/config.json"), TextEncoderConfig.class)), out);
        compare("UNet", expected.get("unet"), ckpt.unet(UNetLayout.read(configDir.resolve("unet/config.json")), false), out);
        compare("VAE", expected.get("vae"), ckpt.vae(), out);
        return out;
    }

    /** {@link #differences} of an SDXL checkpoint (see the class comment). */
    private static List<String> sdxlDifferences(SingleFileCheckpoint ckpt, Path configDir) {
        List<String> out = new ArrayList<>();
        Path te = configDir.resolve("text_encoder/config.json");
        compare("text encoder", Release.textEncoderShapes(te), ckpt.textEncoder(Configs.read(te, TextEncoderConfig.class)), out);
        Path te2 = configDir.resolve("text_encoder_2/config.json");
        TextEncoderConfig tc2 = Configs.read(te2, TextEncoderConfig.class);
        Map<String, long[]> te2Shapes = new LinkedHashMap<>(Release.textEncoderShapes(te2));
        // CLIPTextModelWithProjection: the text model plus a bias-free Linear(hidden_size, projection_dim)
        te2Shapes.put("text_projection.weight", new long[] {projectionDim(te2), tc2.hiddenSize()});
        compare("text encoder 2", te2Shapes, ckpt.textEncoder2(tc2), out);
        UNetLayout layout = UNetLayout.read(configDir.resolve("unet/config.json"));
        compare("UNet", unetStructure(layout), ckpt.unet(layout, false), false, out);
        compare("VAE", Release.vaeShapes(configDir.resolve("vae/config.json")), ckpt.vae(), out);
        return out;
    }

    /** {@code projection_dim} of a {@code CLIPTextModelWithProjection} config (transformers' default 512). */
    private static long projectionDim(Path configJson) {
        try {
            JsonNode n = new ObjectMapper().readTree(configJson.toFile()).get("projection_dim");
            return n == null || n.isNull() ? 512 : n.asLong();
        } catch (IOException e) {
            throw new ModelLoadException(configJson + ": cannot read: " + e.getMessage(), e);
        }
    }

    /**
     * The weights that fix a UNet's block structure, by diffusers name, from its layout: conv_in,
     * conv_out, the time and added embeddings; per down level (and up level, mid block) each
     * resnet's {@code conv2}, on levels with attention each attention's {@code norm} and, for each
     * of its {@code transformer_layers_per_block} blocks, the cross-attention {@code attn2.to_k}
     * [width, cross_attention_dim]; the down/upsamplers of every level but the last (diffusers
     * {@code UNet2DConditionModel}). Together with the names that have no place in the layout
     * (unexpected) this tells one UNet architecture from another without building the model.
     */
    static Map<String, long[]> unetStructure(UNetLayout l) {
        Map<String, long[]> e = new LinkedHashMap<>();
        int[] ch = l.blockOutChannels();
        int levels = l.levels();
        long t = l.timeEmbedDim();
        e.put("conv_in.weight", new long[] {ch[0], l.inChannels(), 3, 3});
        e.put("time_embedding.linear_1.weight", new long[] {t, ch[0]});
        e.put("time_embedding.linear_2.weight", new long[] {t, t});
        if (l.hasAddedEmbedding()) {
            e.put("add_embedding.linear_1.weight", new long[] {t, l.addEmbedInputDim()});
            e.put("add_embedding.linear_2.weight", new long[] {t, t});
        }
        for (int i = 0; i < levels; i++) {
            String p = "down_blocks." + i + ".";
            for (int j = 0; j < l.layersPerBlock(); j++) {
                e.put(p + "resnets." + j + ".conv2.weight", new long[] {ch[i], ch[i], 3, 3});
                if (l.downAttention().get(i)) {
                    attention(e, p + "attentions." + j + ".", ch[i], l.depth()[i], l.crossAttentionDim());
                }
            }
            if (i < levels - 1) {
                e.put(p + "downsamplers.0.conv.weight", new long[] {ch[i], ch[i], 3, 3});
            }
        }
        int last = ch[levels - 1];
        e.put("mid_block.resnets.0.conv2.weight", new long[] {last, last, 3, 3});
        attention(e, "mid_block.attentions.0.", last, l.midDepth(), l.crossAttentionDim());
        e.put("mid_block.resnets.1.conv2.weight", new long[] {last, last, 3, 3});
        for (int i = 0; i < levels; i++) {
            String p = "up_blocks." + i + ".";
            int c = ch[levels - 1 - i];
            for (int j = 0; j <= l.layersPerBlock(); j++) {
                e.put(p + "resnets." + j + ".conv2.weight", new long[] {c, c, 3, 3});
                if (l.upAttention().get(i)) {
                    attention(e, p + "attentions." + j + ".", c, l.upDepth(i), l.crossAttentionDim());
                }
            }
            if (i < levels - 1) {
                e.put(p + "upsamplers.0.conv.weight", new long[] {c, c, 3, 3});
            }
        }
        e.put("conv_out.weight", new long[] {l.outChannels(), ch[0], 3, 3});
        return e;
    }

    private static void attention(Map<String, long[]> e, String prefix, int width, int depth, int crossDim) {
        e.put(prefix + "norm.weight", new long[] {width});
        for (int k = 0; k < depth; k++) {
            e.put(prefix + "transformer_blocks." + k + ".attn2.to_k.weight", new long[] {width, crossDim});
        }
    }

    private static void compare(String what, Map<String, long[]> expected, TensorFile actual, List<String> out) {
        compare(what, expected, actual, true, out);
    }

    /**
     * @param complete whether {@code expected} names every weight (else only those that fix the
     *                 architecture: then the only unexpected names are those with no diffusers name)
     */
    private static void compare(String what, Map<String, long[]> expected, TensorFile actual, boolean complete,
                                List<String> out) {
        int before = out.size();
        Map<String, SafeTensors.TensorInfo> have = actual.tensors();
        for (Map.Entry<String, long[]> e : expected.entrySet()) {
            SafeTensors.TensorInfo t = have.get(e.getKey());
            if (t == null) {
                add(out, before, what + ": missing " + e.getKey() + " " + Arrays.toString(e.getValue()));
            } else if (!Arrays.equals(t.shape(), e.getValue())) {
                add(out, before, what + ": " + e.getKey() + " is " + Arrays.toString(t.shape()) + ", expected "
                        + Arrays.toString(e.getValue()));
            }
        }
        for (String k : have.keySet()) {
            // the views keep a name that has no diffusers counterpart under its original prefix
            boolean unmapped = k.startsWith(SingleFileCheckpoint.UNET_PREFIX);
            if (complete ? !expected.containsKey(k) : unmapped) {
                add(out, before, what + ": unexpected " + k + " " + Arrays.toString(have.get(k).shape()));
            }
        }
    }

    private static void add(List<String> out, int start, String line) {
        if (out.size() - start < 4) {
            out.add(line);
        } else if (out.size() - start == 4) {
            out.add("...");
        }
    }

    private static ModelLoadException mismatch(SingleFileCheckpoint ckpt, Release tried, List<String> diffs) {
        return ModelLoadException.needingConfig(ckpt.file() + ": the tensor shapes match no Stable Diffusion release known here "
                + "(SD 1.x, SD 2.x base, SD 2.x 768-v, SDXL base 1.0). Found: " + summary(ckpt) + ". Differences from "
                + tried.label + ": " + String.join("; ", diffs) + ". Pass --config DIR, a folder with the unet/, vae/, "
                + (ckpt.isSdxl() ? "text_encoder/, text_encoder_2/, scheduler/, tokenizer/ and tokenizer_2/"
                : "text_encoder/, scheduler/ and tokenizer/") + " config files of this model (as diffusers' "
                + "from_single_file(config=...)).");
    }

    /** The shapes that tell architectures apart, for error messages. */
    public static String summary(SingleFileCheckpoint ckpt) {
        List<String> parts = new ArrayList<>();
        Map<String, SafeTensors.TensorInfo> clip = ckpt.textEncoderTensors();
        if (ckpt.textEncoderKind() == SingleFileCheckpoint.TextEncoderKind.HF_CLIP) {
            SafeTensors.TensorInfo tok = clip.get("text_model.embeddings.token_embedding.weight");
            long layers = clip.keySet().stream().filter(k -> k.matches("(text_model\\.)?encoder\\.layers\\.\\d+\\.layer_norm1\\.weight")).count();
            parts.add("CLIP text encoder token_embedding " + (tok == null ? "?" : Arrays.toString(tok.shape())) + ", " + layers + " layers");
        } else {
            SafeTensors.TensorInfo tok = clip.get("token_embedding.weight");
            long layers = clip.keySet().stream().filter(k -> k.matches("transformer\\.resblocks\\.\\d+\\.ln_1\\.weight")).count();
            parts.add("OpenCLIP text encoder token_embedding " + (tok == null ? "?" : Arrays.toString(tok.shape())) + ", " + layers + " blocks");
        }
        if (ckpt.isSdxl()) {
            Map<String, SafeTensors.TensorInfo> clip2 = ckpt.textEncoder2Tensors();
            long blocks = clip2.keySet().stream().filter(k -> k.matches("transformer\\.resblocks\\.\\d+\\.ln_1\\.weight")).count();
            parts.add("OpenCLIP text encoder 2 token_embedding " + shape(clip2, "token_embedding.weight") + ", " + blocks
                    + " blocks, text_projection " + shape(clip2, "text_projection"));
        }
        Map<String, SafeTensors.TensorInfo> unet = ckpt.unetTensors();
        parts.add("UNet conv_in " + shape(unet, "input_blocks.0.0.weight"));
        if (ckpt.isSdxl()) {
            parts.add("label_emb.0.0 " + shape(unet, "label_emb.0.0.weight"));
        }
        parts.add("cross-attention to_k " + shape(unet, firstCrossAttention(unet)));
        parts.add("VAE encoder.conv_in " + shape(ckpt.vaeTensors(), "encoder.conv_in.weight"));
        return String.join(", ", parts);
    }

    private static final Pattern CROSS_ATTENTION =
            Pattern.compile("^input_blocks\\.(\\d+)\\.1\\.transformer_blocks\\.0\\.attn2\\.to_k\\.weight$");

    /** The cross-attention key of the first input block with attention (SDXL's first level has none). */
    private static String firstCrossAttention(Map<String, SafeTensors.TensorInfo> unet) {
        String best = "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight";
        int bestIndex = Integer.MAX_VALUE;
        for (String k : unet.keySet()) {
            Matcher m = CROSS_ATTENTION.matcher(k);
            if (m.matches() && Integer.parseInt(m.group(1)) < bestIndex) {
                bestIndex = Integer.parseInt(m.group(1));
                best = k;
            }
        }
        return best;
    }

    private static String shape(Map<String, SafeTensors.TensorInfo> m, String k) {
        SafeTensors.TensorInfo t = m.get(k);
        return t == null ? "(absent)" : Arrays.toString(t.shape());
    }
}
