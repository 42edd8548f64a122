package dev.tenstep.model.singlefile;

import ai.djl.ndarray.NDManager;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.model.ShapesOnlyWeights;
import dev.tenstep.model.Weights;
import dev.tenstep.model.clip.ClipTextModel;
import dev.tenstep.model.config.Configs;
import dev.tenstep.model.config.TextEncoderConfig;
import dev.tenstep.model.config.UNetConfig;
import dev.tenstep.model.config.VaeConfig;
import dev.tenstep.model.unet.UNet2DConditionModel;
import dev.tenstep.model.vae.AutoencoderKL;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.EnumMap;

/**
 * The Stable Diffusion releases whose single-file checkpoints are recognised from their tensor
 * shapes. Each ships with the product as a diffusers config folder (resources
 * {@code /sdconfigs/<name>/}: {@code unet/}, {@code vae/}, {@code text_encoder/},
 * {@code scheduler/}, {@code tokenizer/} with the bundled CLIP vocabulary, and for SDXL
 * {@code text_encoder_2/} and {@code tokenizer_2/}), the configuration that diffusers'
 * {@code from_single_file} fetches for the same checkpoint.
 */
public enum Release {
    /** SD 1.x (1.4, 1.5 and their fine-tunes): CLIP ViT-L/14 (768), 512 px, epsilon. */
    SD_1_5("stable-diffusion-v1-5", "SD 1.x (512 px, epsilon)"),
    /** SD 2.x base: OpenCLIP ViT-H/14 (1024, penultimate layer), 512 px, epsilon. */
    SD_2_1_BASE("stable-diffusion-2-1-base", "SD 2.x base (512 px, epsilon)"),
    /** SD 2.x 768: same shapes as the base model, 768 px, v-prediction, upcast attention. */
    SD_2_1_768_V("stable-diffusion-2-1", "SD 2.x 768 (768 px, v-prediction)"),
    /**
     * SDXL base 1.0 and its fine-tunes: CLIP ViT-L (768) and OpenCLIP ViT-bigG (1280, 32 layers,
     * projection 1280), UNet 320/640/1280 with added text-time embedding, 1024 px, epsilon.
     */
    SDXL_BASE("stable-diffusion-xl-base-1.0", "SDXL base 1.0 (1024 px, epsilon)");

    private static final List<String> FILES = List.of("model_index.json", "scheduler/scheduler_config.json",
            "text_encoder/config.json", "unet/config.json", "vae/config.json", "tokenizer/special_tokens_map.json",
            "tokenizer/tokenizer_config.json");
    /** What an SDXL folder has besides {@link #FILES}. */
    private static final List<String> SDXL_FILES = List.of("text_encoder_2/config.json",
            "tokenizer_2/special_tokens_map.json", "tokenizer_2/tokenizer_config.json");
    private static final List<String> VOCAB = List.of("vocab.json", "merges.txt");
    private static final Map<Release, Path> EXTRACTED = new EnumMap<>(Release.class);

    /** The folder name under {@code /sdconfigs/} (the diffusers repository name). */
    public final String configName;
    /** A human-readable label. */
    public final String label;

    Release(String configName, String label) {
        this.configName = configName;
        this.label = label;
    }

    /**
     * The release's config folder on disk: the bundled resources copied once per process to a
     * temporary folder (deleted on exit), since the tokenizer and config readers take folders.
     *
     * @throws UncheckedIOException if a resource is missing from the build or cannot be written
     */
    public synchronized Path configDir() {
        Path dir = EXTRACTED.get(this);
        if (dir != null && Files.isDirectory(dir)) {
            return dir;
        }
        try {
            dir = Files.createTempDirectory("tenstep-" + configName + "-");
            for (String f : files()) {
                copy("/sdconfigs/" + configName + "/" + f, dir.resolve(f));
            }
            // both SDXL tokenizers use the CLIP vocabulary (they differ in the pad token only)
            for (String tokenizer : isSdxl() ? List.of("tokenizer", "tokenizer_2") : List.of("tokenizer")) {
                for (String f : VOCAB) {
                    copy("/demo/tokenizer/" + f, dir.resolve(tokenizer).resolve(f));
                }
            }
            deleteOnExit(dir);
            EXTRACTED.put(this, dir);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Whether this is an SDXL release (two text encoders and tokenizers). */
    public boolean isSdxl() {
        return this == SDXL_BASE;
    }

    /** The config files of the release's folder, relative to it. */
    public List<String> files() {
        if (!isSdxl()) {
            return FILES;
        }
        List<String> all = new java.util.ArrayList<>(FILES);
        all.addAll(SDXL_FILES);
        return List.copyOf(all);
    }

    private static void copy(String resource, Path to) throws IOException {
        try (InputStream in = Release.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException("resource " + resource + " is missing from the build");
            }
            Files.createDirectories(to.getParent());
            Files.copy(in, to);
        }
    }

    private static void deleteOnExit(Path dir) throws IOException {
        // registered parents first: File.deleteOnExit deletes in reverse order of registration
        dir.toFile().deleteOnExit();
        try (var s = Files.walk(dir)) {
            s.skip(1).forEach(p -> p.toFile().deleteOnExit());
        }
    }

    /**
     * The diffusers weight names and shapes that the configs in {@code configDir} need, per
     * network ({@code unet}, {@code vae}, {@code text_encoder}), found by building each model
     * with {@link Weights#shapesOnly} (no weight is allocated). SD 1.x/2.x configs only: this
     * build's {@link UNet2DConditionModel} refuses SDXL's (see {@link Architecture} for what SDXL
     * recognition compares instead).
     *
     * @throws ModelLoadException if a config is missing or invalid
     */
    public static Map<String, Map<String, long[]>> expectedShapes(Path configDir) {
        Map<String, Map<String, long[]>> out = new LinkedHashMap<>();
        out.put("text_encoder", textEncoderShapes(configDir.resolve("text_encoder/config.json")));
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesOnlyWeights wu = Weights.shapesOnly(m);
            new UNet2DConditionModel(Configs.read(configDir.resolve("unet/config.json"), UNetConfig.class), wu);
            out.put("unet", wu.shapes());
        }
        out.put("vae", vaeShapes(configDir.resolve("vae/config.json")));
        return out;
    }

    /**
     * The weights of a {@link ClipTextModel} built from {@code configJson}, by transformers name.
     *
     * @throws ModelLoadException if the config is missing or invalid
     */
    public static Map<String, long[]> textEncoderShapes(Path configJson) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesOnlyWeights w = Weights.shapesOnly(m);
            new ClipTextModel(w, Configs.read(configJson, TextEncoderConfig.class));
            return w.shapes();
        }
    }

    /**
     * The weights of an {@link AutoencoderKL} built from {@code configJson}, by diffusers name.
     *
     * @throws ModelLoadException if the config is missing or invalid
     */
    public static Map<String, long[]> vaeShapes(Path configJson) {
        try (NDManager m = NDManager.newBaseManager()) {
            ShapesOnlyWeights w = Weights.shapesOnly(m);
            new AutoencoderKL(w, Configs.read(configJson, VaeConfig.class));
            return w.shapes();
        }
    }
}
