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
 * vocabulary when a tokenizer folder has none, check that the UNet and VAE fit together, and release
 * everything they allocated when a part fails.
 */
public final class PipelineAssembler {
    private static final Logger LOG = LoggerFactory.getLogger(PipelineAssembler.class);
    /** Classpath folder of the bundled CLIP vocabulary ({@code vocab.json}, {@code merges.txt}; OpenAI CLIP, MIT). */
    public static final String VOCABULARY_RESOURCE = "/demo/tokenizer/";
    /** Seed offsets of the random weights per component (text encoder, UNet, VAE), as the demo uses them. */
    static final int TEXT_ENCODER_SEED = 0, UNET_SEED = 1, VAE_SEED = 2;

    private PipelineAssembler() {
    }

    /** The configs of a diffusers folder (each file validated by its record). */
    record FolderConfigs(SchedulerConfig scheduler, TextEncoderConfig textEncoder, UNetConfig unet, VaeConfig vae) {
        static FolderConfigs read(Path dir) {
            if (!Files.isDirectory(dir)) {
                throw new ModelLoadException("model folder not found: " + dir);
            }
            if (!Files.isRegularFile(dir.resolve("model_index.json"))) {
                throw new ModelLoadException(dir + " is not a diffusers pipeline folder: model_index.json is missing");
            }
            ModelIndex index = Configs.read(dir.resolve("model_index.json"), ModelIndex.class);
            index.validate();
            return new FolderConfigs(
                    Configs.read(dir.resolve("scheduler/scheduler_config.json"), SchedulerConfig.class),
                    Configs.read(dir.resolve("text_encoder/config.json"), TextEncoderConfig.class),
                    Configs.read(dir.resolve("unet/config.json"), UNetConfig.class),
                    Configs.read(dir.resolve("vae/config.json"), VaeConfig.class));
        }
    }

    /** The three networks, built inside the pipeline's manager. */
    record Networks(ClipTextModel textEncoder, UNet2DConditionModel unet, AutoencoderKL vae) {
    }

    /** Builds the networks inside the pipeline's manager (from whatever source of weights). */
    @FunctionalInterface
    interface NetworkBuilder {
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
        DataType dt = compute.dtype().dataType();
        return assemble(name, dir, c.scheduler(), dir.resolve("tokenizer"), compute, m -> new Networks(
                ClipTextModel.load(dir.resolve("text_encoder"), m, dt),
                UNet2DConditionModel.load(dir.resolve("unet"), m, dt),
                AutoencoderKL.load(dir.resolve("vae"), m, compute.vaeDtype().dataType())));
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
        DataType dt = compute.dtype().dataType();
        return assemble(name, dir, c.scheduler(), dir.resolve("tokenizer"), compute, m -> new Networks(
                new ClipTextModel(Weights.random(m, seed + TEXT_ENCODER_SEED, dt), c.textEncoder()),
                new UNet2DConditionModel(c.unet(), Weights.random(m, seed + UNET_SEED, dt)),
                new AutoencoderKL(Weights.random(m, seed + VAE_SEED, compute.vaeDtype().dataType()), c.vae())));
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
        long t0 = System.nanoTime();
        // every weight and intermediate on the chosen device: sub-managers inherit it
        NDManager manager = NDManager.newBaseManager(compute.device());
        ClipTokenizer tokenizer = null;
        try {
            tokenizer = tokenizer(tokenizerDir);
            Networks n = networks.build(manager);
            if (n.unet().config().inChannels() != n.vae().config().latentChannels()) {
                throw new ModelLoadException(source + ": the UNet's in_channels " + n.unet().config().inChannels()
                        + " differs from the VAE's latent_channels " + n.vae().config().latentChannels()
                        + " (an inpainting or depth model?); only text-to-image models are supported");
            }
            LOG.info("loaded {} on {} in {} ms", name, compute.label(), (System.nanoTime() - t0) / 1_000_000);
            return new StableDiffusionPipeline(name, source, manager, tokenizer, n.textEncoder(), n.unet(), n.vae(),
                    NoiseSchedule.of(scheduler), compute);
        } catch (RuntimeException e) {
            if (tokenizer != null) {
                tokenizer.close();
            }
            manager.close();
            throw e;
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
