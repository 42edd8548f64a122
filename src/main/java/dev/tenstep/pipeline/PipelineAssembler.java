package dev.tenstep.pipeline;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.model.Weights;
import dev.tenstep.model.clip.ClipTextModel;
import dev.tenstep.model.clip.ClipTokenizer;
import dev.tenstep.model.config.Configs;
import dev.tenstep.model.config.ModelIndex;
import dev.tenstep.model.config.SchedulerConfig;
import dev.tenstep.model.config.TextEncoderConfig;
import dev.tenstep.model.config.UNetConfig;
import dev.tenstep.model.config.VaeConfig;
import dev.tenstep.model.unet.UNet2DConditionModel;
import dev.tenstep.model.vae.AutoencoderKL;
import dev.tenstep.sampling.NoiseSchedule;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * The one place where a {@link StableDiffusionPipeline} is put together from its parts: a diffusers
 * folder's weights ({@link #load}), or its configs with seeded random weights ({@link #randomWeights},
 * used by {@code bench --random-weights}; the bundled demo pipeline is written with the same random
 * weights and then loaded). Both paths read the same configs, fall back to the bundled CLIP
 * vocabulary when a tokenizer folder has none, check that the UNet and VAE fit together (and, for
 * SDXL, that the UNet's context and added conditioning fit the two text encoders), and release
 * everything they allocated when a part fails.
 *
 * <p>An SDXL folder ({@code StableDiffusionXLPipeline}) adds {@code tokenizer_2/} and
 * {@code text_encoder_2/}; its model index's {@code force_zeros_for_empty_prompt} is kept, and its VAE
 * runs in float32 whenever half precision is asked for and the VAE config says {@code force_upcast}
 * (diffusers' rule: SDXL's VAE overflows in fp16).
 */
public final class PipelineAssembler {
    private static final Logger LOG = LoggerFactory.getLogger(PipelineAssembler.class);
    /** Classpath folder of the bundled CLIP vocabulary ({@code vocab.json}, {@code merges.txt}; OpenAI CLIP, MIT). */
    public static final String VOCABULARY_RESOURCE = "/demo/tokenizer/";
    /** Seed offsets of the random weights per component (text encoder, UNet, VAE, SDXL's text encoder 2). */
    static final int TEXT_ENCODER_SEED = 0, UNET_SEED = 1, VAE_SEED = 2, TEXT_ENCODER_2_SEED = 3;

    private PipelineAssembler() {
    }

    /**
     * The configs of a diffusers folder (each file validated by its record).
     *
     * @param textEncoder2 SDXL's {@code text_encoder_2/config.json}, else null
     */
    record FolderConfigs(ModelIndex index, SchedulerConfig scheduler, TextEncoderConfig textEncoder,
                         TextEncoderConfig textEncoder2, UNetConfig unet, VaeConfig vae) {
        static FolderConfigs read(Path dir) {
            if (!Files.isDirectory(dir)) {
                throw new ModelLoadException("model folder not found: " + dir);
            }
            if (!Files.isRegularFile(dir.resolve("model_index.json"))) {
                throw new ModelLoadException(dir + " is not a diffusers pipeline folder: model_index.json is missing");
            }
            ModelIndex index = Configs.read(dir.resolve("model_index.json"), ModelIndex.class);
            index.validate();
            return new FolderConfigs(index,
                    Configs.read(dir.resolve("scheduler/scheduler_config.json"), SchedulerConfig.class),
                    Configs.read(dir.resolve("text_encoder/config.json"), TextEncoderConfig.class),
                    index.isXl() ? Configs.read(dir.resolve("text_encoder_2/config.json"), TextEncoderConfig.class) : null,
                    Configs.read(dir.resolve("unet/config.json"), UNetConfig.class),
                    Configs.read(dir.resolve("vae/config.json"), VaeConfig.class));
        }

        /** SDXL's options: tokenizer_2 folder and force_zeros_for_empty_prompt; null for SD 1.x/2.x. */
        XlParts xl(Path dir) {
            return index.isXl() ? new XlParts(dir.resolve("tokenizer_2"), index.forceZeros()) : null;
        }

        /** {@code compute}, with the VAE in float32 when SDXL's VAE config says {@code force_upcast} and half precision is asked for. */
        ComputeSpec effective(ComputeSpec compute) {
            return index.isXl() ? upcastVae(compute, vae) : compute;
        }
    }

    /**
     * What an SDXL pipeline needs besides the networks.
     *
     * @param tokenizer2Dir     the {@code tokenizer_2/} folder (the bundled vocabulary fills in when it has none)
     * @param zeroEmptyNegative the model index's {@code force_zeros_for_empty_prompt}
     */
    public record XlParts(Path tokenizer2Dir, boolean zeroEmptyNegative) {
    }

    /**
     * The networks, built inside the pipeline's manager.
     *
     * @param textEncoder2 SDXL's {@code text_encoder_2} ({@code CLIPTextModelWithProjection}), or null
     */
    public record Networks(ClipTextModel textEncoder, ClipTextModel textEncoder2, UNet2DConditionModel unet,
                           AutoencoderKL vae) {
        /** The networks of an SD 1.x/2.x pipeline. */
        public Networks(ClipTextModel textEncoder, UNet2DConditionModel unet, AutoencoderKL vae) {
            this(textEncoder, null, unet, vae);
        }
    }

    /**
     * diffusers' {@code force_upcast} (SDXL pipeline): a VAE whose config says so runs in float32 when half precision is
     * asked for it.
     */
    public static ComputeSpec upcastVae(ComputeSpec compute, VaeConfig vae) {
        if (vae.forceUpcast() && compute.vaeDtype().isHalf()) {
            LOG.info("VAE in fp32 instead of {}: its config says force_upcast (SDXL's VAE overflows in half precision)",
                    compute.vaeDtype().id());
            return new ComputeSpec(compute.device(), compute.dtype(), ComputeSpec.Precision.FP32, compute.attention());
        }
        return compute;
    }

    /** Builds the networks inside the pipeline's manager (from whatever source of weights). */
    @FunctionalInterface
    public interface NetworkBuilder {
        Networks build(NDManager manager);
    }

    /**
     * Loads a diffusers Stable Diffusion folder ({@code model_index.json}, {@code tokenizer/},
     * {@code text_encoder/}, {@code unet/}, {@code vae/}, {@code scheduler/}); weights are
     * memory-mapped.
     *
     * @throws ModelLoadException naming the missing or invalid file, config key or weight
     */
    public static StableDiffusionPipeline load(Path dir) {
        return load(dir, ComputeSpec.CPU);
    }

    /**
     * As {@link #load(Path)}, on {@code compute}'s device: the text encoder and UNet weights are
     * created in its compute dtype, the VAE's in its VAE dtype, straight from the file onto the
     * device (an fp16 file is not widened on the host for fp16 compute).
     *
     * @throws ModelLoadException naming the missing or invalid file, config key or weight
     */
    public static StableDiffusionPipeline load(Path dir, ComputeSpec compute) {
        FolderConfigs c = FolderConfigs.read(dir);
        String name = dir.toAbsolutePath().normalize().getFileName().toString();
        ComputeSpec eff = c.effective(compute);
        DataType dt = eff.dtype().dataType();
        XlParts xl = c.xl(dir);
        return assemble(name, dir, c.scheduler(), dir.resolve("tokenizer"), xl, eff, m -> new Networks(
                ClipTextModel.load(dir.resolve("text_encoder"), m, dt),
                xl == null ? null : ClipTextModel.load(dir.resolve("text_encoder_2"), m, dt),
                UNet2DConditionModel.load(dir.resolve("unet"), m, dt),
                AutoencoderKL.load(dir.resolve("vae"), m, eff.vaeDtype().dataType())));
    }

    /**
     * Builds a folder's pipeline at full size from its configs alone, with seeded random weights
     * (text encoder seed, UNet seed + 1, VAE seed + 2): benchmarks of the real architectures without
     * their weights. The folder needs no weight files; its tokenizer folder may lack the vocabulary.
     *
     * @throws ModelLoadException naming the missing or invalid config
     */
    public static StableDiffusionPipeline randomWeights(Path dir, long seed) {
        return randomWeights(dir, seed, ComputeSpec.CPU);
    }

    /** As {@link #randomWeights(Path, long)}, on {@code compute}'s device and in its dtypes (the same values, narrowed). */
    public static StableDiffusionPipeline randomWeights(Path dir, long seed, ComputeSpec compute) {
        FolderConfigs c = FolderConfigs.read(dir);
        String name = dir.toAbsolutePath().normalize().getFileName().toString() + " (random weights)";
        ComputeSpec eff = c.effective(compute);
        DataType dt = eff.dtype().dataType();
        XlParts xl = c.xl(dir);
        return assemble(name, dir, c.scheduler(), dir.resolve("tokenizer"), xl, eff, m -> new Networks(
                new ClipTextModel(Weights.random(m, seed + TEXT_ENCODER_SEED, dt), c.textEncoder()),
                xl == null ? null : new ClipTextModel(Weights.random(m, seed + TEXT_ENCODER_2_SEED, dt), c.textEncoder2()),
                new UNet2DConditionModel(c.unet(), Weights.random(m, seed + UNET_SEED, dt)),
                new AutoencoderKL(Weights.random(m, seed + VAE_SEED, eff.vaeDtype().dataType()), c.vae())));
    }

    /**
     * Assembles a pipeline: tokenizer, networks (built by {@code networks} inside a new manager),
     * the compatibility check, the noise schedule. On any failure everything allocated is released.
     * On the CPU in fp32.
     *
     * @param name         the model name (UIs, infotexts)
     * @param source       the folder or file it was loaded from
     * @param tokenizerDir the {@code tokenizer/} folder (the bundled vocabulary fills in when it has none)
     * @throws ModelLoadException naming what does not fit
     */
    static StableDiffusionPipeline assemble(String name, Path source, SchedulerConfig scheduler, Path tokenizerDir,
                                            NetworkBuilder networks) {
        return assemble(name, source, scheduler, tokenizerDir, ComputeSpec.CPU, networks);
    }

    /** As {@link #assemble(String, Path, SchedulerConfig, Path, NetworkBuilder)}, the manager on {@code compute}'s device. */
    static StableDiffusionPipeline assemble(String name, Path source, SchedulerConfig scheduler, Path tokenizerDir,
                                            ComputeSpec compute, NetworkBuilder networks) {
        return assemble(name, source, scheduler, tokenizerDir, null, compute, networks);
    }

    /**
     * As {@link #assemble(String, Path, SchedulerConfig, Path, ComputeSpec, NetworkBuilder)}, for SDXL when {@code xl}
     * is given (the builder then makes {@link Networks#textEncoder2}): the second tokenizer is loaded and the networks
     * checked to fit together (diffusers' {@code StableDiffusionXLPipeline} check: {@code 6 x addition_time_embed_dim +
     * text_encoder_2.projection_dim = projection_class_embeddings_input_dim}; and {@code cross_attention_dim} = the two
     * encoders' widths).
     *
     * @param xl SDXL's tokenizer_2 folder and zero-negative option, or null for SD 1.x/2.x
     * @throws ModelLoadException naming what does not fit
     */
    public static StableDiffusionPipeline assemble(String name, Path source, SchedulerConfig scheduler, Path tokenizerDir,
                                                   XlParts xl, ComputeSpec compute, NetworkBuilder networks) {
        long t0 = System.nanoTime();
        // every weight and intermediate on the chosen device: sub-managers inherit it
        NDManager manager = NDManager.newBaseManager(compute.device());
        ClipTokenizer tokenizer = null;
        ClipTokenizer tokenizer2 = null;
        try {
            tokenizer = tokenizer(tokenizerDir);
            tokenizer2 = xl == null ? null : tokenizer(xl.tokenizer2Dir());
            Networks n = networks.build(manager);
            if (n.unet().config().inChannels() != n.vae().config().latentChannels()) {
                throw new ModelLoadException(source + ": the UNet's in_channels " + n.unet().config().inChannels()
                        + " differs from the VAE's latent_channels " + n.vae().config().latentChannels()
                        + " (an inpainting or depth model?); only text-to-image models are supported");
            }
            checkXl(source, xl, n);
            LOG.info("loaded {} on {} in {} ms", name, compute.label(), (System.nanoTime() - t0) / 1_000_000);
            return new StableDiffusionPipeline(name, source, manager, tokenizer, n.textEncoder(), tokenizer2,
                    n.textEncoder2(), xl != null && xl.zeroEmptyNegative(), n.unet(), n.vae(), NoiseSchedule.of(scheduler),
                    compute);
        } catch (RuntimeException e) {
            if (tokenizer != null) {
                tokenizer.close();
            }
            if (tokenizer2 != null) {
                tokenizer2.close();
            }
            manager.close();
            throw e;
        }
    }

    /** The SDXL networks fit together (or, for SD 1.x/2.x, there is neither a second encoder nor added conditioning). */
    private static void checkXl(Path source, XlParts xl, Networks n) {
        UNetConfig u = n.unet().config();
        if (xl == null) {
            if (n.textEncoder2() != null || u.hasTextTimeEmbedding()) {
                throw new ModelLoadException(source + ": an SDXL UNet (addition_embed_type text_time) or second text "
                        + "encoder in a pipeline that is not StableDiffusionXLPipeline");
            }
            return;
        }
        TextEncoderConfig t1 = n.textEncoder().config();
        TextEncoderConfig t2 = n.textEncoder2() == null ? null : n.textEncoder2().config();
        if (t2 == null || t2.projection() == null) {
            throw new ModelLoadException(source + ": an SDXL pipeline needs text_encoder_2 as a CLIPTextModelWithProjection "
                    + "(architectures) with projection_dim");
        }
        if (!u.hasTextTimeEmbedding()) {
            throw new ModelLoadException(source + ": an SDXL pipeline needs a UNet with addition_embed_type 'text_time'");
        }
        if (u.textEmbedsDim() != t2.projection().projectionDim()) {
            throw new ModelLoadException(source + ": the UNet's projection_class_embeddings_input_dim "
                    + u.projectionClassEmbeddingsInputDim() + " must be 6 x addition_time_embed_dim ("
                    + UNetConfig.TIME_IDS * u.additionTimeEmbedDim() + ") + text_encoder_2's projection_dim ("
                    + t2.projection().projectionDim() + ")");
        }
        if (u.crossAttentionDim() != t1.hiddenSize() + t2.hiddenSize()) {
            throw new ModelLoadException(source + ": the UNet's cross_attention_dim " + u.crossAttentionDim()
                    + " must be text_encoder's hidden_size " + t1.hiddenSize() + " + text_encoder_2's " + t2.hiddenSize()
                    + " (the two penultimate states are concatenated)");
        }
    }

    /**
     * The CLIP tokenizer of a {@code tokenizer/} folder. A folder without {@code tokenizer.json} or
     * {@code vocab.json} + {@code merges.txt} (the release config folders ship without them) gets the
     * bundled CLIP vocabulary, which every SD 1.x/2.x release uses; its own
     * {@code special_tokens_map.json} and {@code tokenizer_config.json} (pad token) still apply.
     *
     * @throws ModelLoadException if the folder's files are invalid
     */
    public static ClipTokenizer tokenizer(Path tokDir) {
        if (Files.isRegularFile(tokDir.resolve("tokenizer.json"))
                || (Files.isRegularFile(tokDir.resolve("vocab.json")) && Files.isRegularFile(tokDir.resolve("merges.txt")))) {
            return ClipTokenizer.load(tokDir);
        }
        Path tmp = null;
        try {
            tmp = Files.createTempDirectory("tenstep-tokenizer");
            if (Files.isDirectory(tokDir)) {
                try (Stream<Path> s = Files.list(tokDir)) {
                    for (Path p : (Iterable<Path>) s::iterator) {
                        Files.copy(p, tmp.resolve(p.getFileName().toString()), StandardCopyOption.REPLACE_EXISTING);
                    }
                }
            }
            copyBundledVocabulary(tmp);
            return ClipTokenizer.load(tmp);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            deleteQuietly(tmp);
        }
    }

    /** Writes the bundled {@code vocab.json} and {@code merges.txt} into {@code dir}. */
    public static void copyBundledVocabulary(Path dir) throws IOException {
        for (String f : List.of("vocab.json", "merges.txt")) {
            try (InputStream in = PipelineAssembler.class.getResourceAsStream(VOCABULARY_RESOURCE + f)) {
                if (in == null) {
                    throw new IOException("resource " + VOCABULARY_RESOURCE + f + " is missing from the build");
                }
                Files.copy(in, dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
        }
    }

    private static void deleteQuietly(Path dir) {
        if (dir == null) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // best effort: a temp folder
        }
    }
}
