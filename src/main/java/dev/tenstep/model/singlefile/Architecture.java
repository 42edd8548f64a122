package dev.tenstep.model.singlefile;

import dev.tenstep.io.SafeTensors;
import dev.tenstep.io.TensorFile;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.model.config.Configs;
import dev.tenstep.model.config.TextEncoderConfig;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

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
 *   <li>Then every tensor of the three networks is compared with the release's configuration
 *       (names and shapes, as the strict loaders will ask for them); any difference means the
 *       checkpoint is of another architecture, and the error lists the shapes found and asks for
 *       {@code --config DIR}.</li>
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
        if (ckpt.textEncoderKind() == SingleFileCheckpoint.TextEncoderKind.HF_CLIP) {
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
        Map<String, Map<String, long[]>> expected = Release.expectedShapes(configDir);
        List<String> out = new ArrayList<>();
        compare("text encoder", expected.get("text_encoder"),
                ckpt.textEncoder(Configs.read(configDir.resolve("text_encoder/config.json"), TextEncoderConfig.class)), out);
        compare("UNet", expected.get("unet"),
                ckpt.unet(UNetLayout.read(configDir.resolve("unet/config.json")), false), out);
        compare("VAE", expected.get("vae"), ckpt.vae(), out);
        return out;
    }

    private static void compare(String what, Map<String, long[]> expected, TensorFile actual, List<String> out) {
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
            if (!expected.containsKey(k)) {
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
                + "(SD 1.x, SD 2.x base, SD 2.x 768-v). Found: " + summary(ckpt) + ". Differences from " + tried.label
                + ": " + String.join("; ", diffs) + ". Pass --config DIR, a folder with the unet/, vae/, text_encoder/, "
                + "scheduler/ and tokenizer/ config files of this model (as diffusers' from_single_file(config=...)).");
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
        Map<String, SafeTensors.TensorInfo> unet = ckpt.unetTensors();
        parts.add("UNet conv_in " + shape(unet, "input_blocks.0.0.weight"));
        parts.add("cross-attention to_k " + shape(unet, "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"));
        parts.add("VAE encoder.conv_in " + shape(ckpt.vaeTensors(), "encoder.conv_in.weight"));
        return String.join(", ", parts);
    }

    private static String shape(Map<String, SafeTensors.TensorInfo> m, String k) {
        SafeTensors.TensorInfo t = m.get(k);
        return t == null ? "(absent)" : Arrays.toString(t.shape());
    }
}
