package dev.tenstep.pipeline;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.tenstep.io.TensorFile;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.model.Weights;
import dev.tenstep.model.clip.ClipTextModel;
import dev.tenstep.model.config.Configs;
import dev.tenstep.model.config.ModelIndex;
import dev.tenstep.model.config.SchedulerConfig;
import dev.tenstep.model.config.TextEncoderConfig;
import dev.tenstep.model.config.UNetConfig;
import dev.tenstep.model.config.VaeConfig;
import dev.tenstep.model.singlefile.Architecture;
import dev.tenstep.model.singlefile.SingleFileCheckpoint;
import dev.tenstep.model.unet.UNet2DConditionModel;
import dev.tenstep.model.vae.AutoencoderKL;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * Loads a Stable Diffusion pipeline from a single-file checkpoint ({@code .safetensors} or
 * {@code .ckpt} in the CompVis / A1111 layout, see {@link SingleFileCheckpoint}), with the options
 * that A1111 and diffusers' {@code from_single_file} offer.
 */
public final class SingleFileLoader {
    private static final Logger LOG = LoggerFactory.getLogger(SingleFileLoader.class);

    /**
     * Options of a single-file load.
     *
     * @param config         a folder with {@code unet/}, {@code vae/}, {@code text_encoder/},
     *                       {@code scheduler/}, {@code tokenizer/} configs (diffusers'
     *                       {@code from_single_file(config=...)}); null = recognise the release
     * @param vae            a VAE replacing the checkpoint's: a single file ({@code *.vae.safetensors},
     *                       {@code .ckpt}) or a diffusers {@code vae/} folder; null = the checkpoint's
     * @param ema            use the checkpoint's EMA UNet weights ({@code model_ema.*})
     * @param predictionType "epsilon" or "v_prediction" overriding the scheduler config; null = as configured
     */
    public record Options(Path config, Path vae, boolean ema, String predictionType) {
        public static final Options DEFAULT = new Options(null, null, false, null);

        public Options {
            if (predictionType != null && !predictionType.equals("epsilon") && !predictionType.equals("v_prediction")) {
                throw new IllegalArgumentException("prediction type must be epsilon or v_prediction, got '" + predictionType + "'");
            }
        }
    }

    private SingleFileLoader() {
    }

    /** True when {@code path} names a checkpoint file this class loads (by extension). */
    public static boolean isSingleFile(Path path) {
        String n = path.getFileName().toString().toLowerCase(Locale.ROOT);
        return Files.isRegularFile(path) && (n.endsWith(".safetensors") || n.endsWith(".ckpt") || n.endsWith(".pt")
                || n.endsWith(".pth"));
    }

    /** The model name A1111 shows ({@code Model:}): the file name without its extension. */
    public static String modelName(Path file) {
        String n = file.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot > 0 ? n.substring(0, dot) : n;
    }

    /**
     * Loads {@code file}.
     *
     * @throws ModelLoadException naming the file, tensor or config key at fault; when the shapes
     *                            match no known release, the message lists them and asks for
     *                            {@code --config}
     */
    public static StableDiffusionPipeline load(Path file, Options options) {
        return load(file, options, ComputeSpec.CPU);
    }

    /**
     * As {@link #load(Path, Options)}, on {@code compute}'s device: text encoder and UNet weights
     * created in its compute dtype, the VAE's in its VAE dtype, as {@link PipelineAssembler#load(Path,
     * ComputeSpec)} does for a folder (an fp16 file's tensors are narrowed or kept, never widened
     * twice).
     *
     * @throws ModelLoadException as {@link #load(Path, Options)}
     */
    public static StableDiffusionPipeline load(Path file, Options options, ComputeSpec compute) {
        long t0 = System.nanoTime();
        if (options.config() != null && !Files.isDirectory(options.config())) {
            throw new ModelLoadException("--config: folder not found: " + options.config());
        }
        if (options.vae() != null && !Files.exists(options.vae())) {
            throw new ModelLoadException("--vae: not found: " + options.vae());
        }
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(file)) {
            Path configDir = configDir(ckpt, options);
            if (ckpt.isSdxl()) {
                StableDiffusionPipeline p = loadXl(file, ckpt, configDir, options, compute);
                LOG.info("loaded {} in {} ms", file.getFileName(), (System.nanoTime() - t0) / 1_000_000);
                return p;
            }
            // the networks under diffusers names, as the weight files of a folder's text_encoder/, unet/, vae/
            Map<String, TensorFile> views = ckpt.components(configDir, options.ema());
            SchedulerConfig sc = scheduler(configDir, options);
            TextEncoderConfig tc = Configs.read(configDir.resolve("text_encoder/config.json"), TextEncoderConfig.class);
            UNetConfig uc = Configs.read(configDir.resolve("unet/config.json"), UNetConfig.class);
            Path cfg = configDir;
            DataType dt = compute.dtype().dataType();
            DataType vaeDt = compute.vaeDtype().dataType();
            StableDiffusionPipeline p = PipelineAssembler.assemble(modelName(file), file, sc, configDir.resolve("tokenizer"),
                    compute, m -> {
                ClipTextModel textEncoder = textEncoder(views.get("text_encoder"), tc, m, dt);
                UNet2DConditionModel unet = UNet2DConditionModel.load(uc, views.get("unet"), m, dt);
                return new PipelineAssembler.Networks(textEncoder, unet, loadVae(views.get("vae"), options.vae(), cfg, m, vaeDt));
            });
            if (options.vae() != null) {
                // A1111's "VAE hash": the first 10 hex digits of the VAE file's SHA-256 (none for a folder)
                p.setVae(options.vae(), Files.isDirectory(options.vae()) ? null : vaeHash(options.vae()));
            }
            LOG.info("loaded {} in {} ms", file.getFileName(), (System.nanoTime() - t0) / 1_000_000);
            return p;
        }
    }

    /**
     * An SDXL checkpoint (SGM layout) into the SDXL pipeline, exactly as {@link PipelineAssembler#load(Path, ComputeSpec)}
     * builds a {@code StableDiffusionXLPipeline} folder: the four views of {@link SingleFileCheckpoint#components} stand in
     * for the folder's weight files, {@code configDir} gives the configs and both tokenizers ({@code tokenizer/},
     * {@code tokenizer_2/}), its {@code model_index.json} the {@code force_zeros_for_empty_prompt} option (absent file or key:
     * true, diffusers' default and SDXL base's value), and its VAE config's {@code force_upcast} keeps the VAE in float32
     * under half precision.
     *
     * @throws ModelLoadException naming the config file, tensor or option at fault
     */
    private static StableDiffusionPipeline loadXl(Path file, SingleFileCheckpoint ckpt, Path configDir, Options options,
                                                  ComputeSpec compute) {
        Path indexFile = configDir.resolve("model_index.json");
        boolean zeros = true;
        if (Files.isRegularFile(indexFile)) {
            ModelIndex index = Configs.read(indexFile, ModelIndex.class);
            if (index.className != null && !index.isXl()) {
                throw new ModelLoadException(file + ": an SDXL checkpoint, but the config folder " + configDir
                        + " is a " + index.className + " (model_index.json): pass the configs of an SDXL model");
            }
            zeros = index.forceZeros();
        }
        Map<String, TensorFile> views = ckpt.components(configDir, options.ema());
        SchedulerConfig sc = scheduler(configDir, options);
        TextEncoderConfig tc = Configs.read(configDir.resolve("text_encoder/config.json"), TextEncoderConfig.class);
        TextEncoderConfig tc2 = Configs.read(configDir.resolve("text_encoder_2/config.json"), TextEncoderConfig.class);
        UNetConfig uc = Configs.read(configDir.resolve("unet/config.json"), UNetConfig.class);
        VaeConfig vc = Configs.read(configDir.resolve("vae/config.json"), VaeConfig.class);
        ComputeSpec eff = PipelineAssembler.upcastVae(compute, vc);
        DataType dt = eff.dtype().dataType();
        DataType vaeDt = eff.vaeDtype().dataType();
        PipelineAssembler.XlParts xl = new PipelineAssembler.XlParts(configDir.resolve("tokenizer_2"), zeros);
        StableDiffusionPipeline p = PipelineAssembler.assemble(modelName(file), file, sc, configDir.resolve("tokenizer"), xl, eff,
                m -> new PipelineAssembler.Networks(textEncoder(views.get("text_encoder"), tc, m, dt),
                        textEncoder(views.get("text_encoder_2"), tc2, m, dt),
                        UNet2DConditionModel.load(uc, views.get("unet"), m, dt),
                        loadVae(views.get("vae"), options.vae(), configDir, m, vaeDt)));
        if (options.vae() != null) {
            p.setVae(options.vae(), Files.isDirectory(options.vae()) ? null : vaeHash(options.vae()));
        }
        return p;
    }

    /** {@code configDir}'s scheduler config, its prediction type replaced by {@code options.predictionType()} when given. */
    private static SchedulerConfig scheduler(Path configDir, Options options) {
        SchedulerConfig sc = Configs.read(configDir.resolve("scheduler/scheduler_config.json"), SchedulerConfig.class);
        if (options.predictionType() == null) {
            return sc;
        }
        return SchedulerConfig.of(sc.className(), sc.numTrainTimesteps(), sc.betaStart(), sc.betaEnd(), sc.betaSchedule(),
                sc.trainedBetas(), options.predictionType(), sc.stepsOffset(), sc.setAlphaToOne(), sc.timestepSpacing());
    }

    /** A CLIP text encoder from a checkpoint's view, every weight used (strict, as a folder's encoder). */
    private static ClipTextModel textEncoder(TensorFile view, TextEncoderConfig config, NDManager m, DataType dt) {
        Weights wt = Weights.of(view, m, UnaryOperator.identity(), dt);
        ClipTextModel encoder = new ClipTextModel(wt, config);
        wt.finish();
        return encoder;
    }

    /**
     * The config folder a checkpoint loads with: {@code options.config()} when given, else the
     * bundled folder of the release its shapes are recognised as ({@link Architecture#infer}).
     *
     * @throws ModelLoadException when no config is given and the shapes match no known release (the
     *                            message lists them and asks for {@code --config})
     */
    public static Path configDir(SingleFileCheckpoint ckpt, Options options) {
        if (options.config() != null) {
            return options.config();
        }
        Architecture.Inferred inferred = Architecture.infer(ckpt, options.predictionType());
        LOG.info("{}: recognised as {} ({})", ckpt.file().getFileName(), inferred.release().label, inferred.reason());
        return inferred.release().configDir();
    }

    private static String vaeHash(Path vae) {
        try {
            return dev.tenstep.io.ModelHash.shortHash(dev.tenstep.io.ModelHash.sha256(vae, null));
        } catch (java.io.IOException e) {
            throw new ModelLoadException("--vae: cannot read " + vae + ": " + e.getMessage(), e);
        }
    }

    /**
     * The VAE: {@code vaeOption} (a diffusers {@code vae/} folder or a single-file VAE) when given,
     * else the checkpoint's ({@code checkpointVae}, its view under diffusers names), built from
     * {@code configDir}'s {@code vae/config.json} unless a folder brings its own. A folder whose
     * {@code scaling_factor} is not the model's is refused: SD 1.x/2.x VAEs (0.18215) and SDXL's (0.13025)
     * have the same shapes but different latent spaces, and a swap makes pictures of noise without an error.
     * (A VAE file carries no config: its family cannot be checked.)
     *
     * @throws ModelLoadException naming the file, tensor or config at fault
     */
    public static AutoencoderKL loadVae(TensorFile checkpointVae, Path vaeOption, Path configDir, NDManager manager,
                                        DataType floatType) {
        VaeConfig vc = Configs.read(configDir.resolve("vae/config.json"), VaeConfig.class);
        if (vaeOption != null && Files.isDirectory(vaeOption)) {
            VaeConfig own = Configs.read(vaeOption.resolve("config.json"), VaeConfig.class);
            if (own.scalingFactor() != vc.scalingFactor()) {
                throw new ModelLoadException("--vae " + vaeOption + ": its config's scaling_factor " + own.scalingFactor()
                        + " is not the model's " + vc.scalingFactor() + " (" + configDir.resolve("vae/config.json")
                        + "): a VAE of another model family (SD 1.x/2.x VAEs use 0.18215, SDXL's 0.13025)");
            }
            return AutoencoderKL.load(vaeOption, manager, floatType);
        }
        if (vaeOption == null) {
            return new AutoencoderKL(Weights.of(checkpointVae, manager, UnaryOperator.identity(), floatType), vc);
        }
        try (SingleFileCheckpoint vaeFile = SingleFileCheckpoint.openVae(vaeOption)) {
            return new AutoencoderKL(Weights.of(vaeFile.vae(), manager, UnaryOperator.identity(), floatType), vc);
        }
    }
}
