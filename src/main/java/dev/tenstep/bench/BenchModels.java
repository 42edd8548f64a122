package dev.tenstep.bench;

import ai.djl.ndarray.NDManager;
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
import dev.tenstep.pipeline.StableDiffusionPipeline;
import dev.tenstep.sampling.NoiseSchedule;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/** Builds the pipeline a benchmark runs: from the folder's weights, or full size from its configs with random weights. */
public final class BenchModels {
    private BenchModels() {
    }

    /** Loads {@code o.model()} (weights memory-mapped) or builds it with seeded random weights. */
    public static StableDiffusionPipeline build(BenchOptions o) {
        Path dir = o.model();
        if (!o.randomWeights()) {
            return StableDiffusionPipeline.load(dir);
        }
        if (!Files.isRegularFile(dir.resolve("model_index.json"))) {
            throw new ModelLoadException(dir + " is not a diffusers pipeline folder: model_index.json is missing");
        }
        ModelIndex index = Configs.read(dir.resolve("model_index.json"), ModelIndex.class);
        index.validate();
        SchedulerConfig sc = Configs.read(dir.resolve("scheduler/scheduler_config.json"), SchedulerConfig.class);
        TextEncoderConfig tc = Configs.read(dir.resolve("text_encoder/config.json"), TextEncoderConfig.class);
        UNetConfig uc = Configs.read(dir.resolve("unet/config.json"), UNetConfig.class);
        VaeConfig vc = Configs.read(dir.resolve("vae/config.json"), VaeConfig.class);
        NDManager manager = NDManager.newBaseManager();
        ClipTokenizer tokenizer = null;
        try {
            tokenizer = loadTokenizer(dir.resolve("tokenizer"), o.tokenizerFiles());
            ClipTextModel text = new ClipTextModel(Weights.random(manager, o.seed()), tc);
            UNet2DConditionModel unet = new UNet2DConditionModel(uc, Weights.random(manager, o.seed() + 1));
            AutoencoderKL vae = new AutoencoderKL(Weights.random(manager, o.seed() + 2), vc);
            String name = dir.toAbsolutePath().normalize().getFileName().toString() + " (random weights)";
            return new StableDiffusionPipeline(name, dir, manager, tokenizer, text, unet, vae, NoiseSchedule.of(sc));
        } catch (RuntimeException e) {
            if (tokenizer != null) {
                tokenizer.close();
            }
            manager.close();
            throw e;
        }
    }

    /**
     * The model's tokenizer; when its folder lacks the vocabulary (the release config folders ship
     * without {@code vocab.json}/{@code merges.txt}), they are taken from {@code files} or from
     * {@code <model>/../../fixtures/<any>/tokenizer} (the same CLIP vocabulary).
     */
    static ClipTokenizer loadTokenizer(Path tokDir, Path files) {
        if (Files.isRegularFile(tokDir.resolve("tokenizer.json"))
                || (Files.isRegularFile(tokDir.resolve("vocab.json")) && Files.isRegularFile(tokDir.resolve("merges.txt")))) {
            return ClipTokenizer.load(tokDir);
        }
        Path source = files != null ? files : findVocabulary(tokDir);
        if (source == null) {
            throw new ModelLoadException(tokDir + " has no vocab.json/merges.txt; pass --tokenizer-files DIR");
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
            for (String f : List.of("vocab.json", "merges.txt")) {
                Files.copy(source.resolve(f), tmp.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
            return ClipTokenizer.load(tmp);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            deleteQuietly(tmp);
        }
    }

    private static Path findVocabulary(Path tokDir) {
        Path model = tokDir.toAbsolutePath().normalize().getParent();
        List<Path> candidates = new ArrayList<>();
        if (model != null && model.getParent() != null && model.getParent().getParent() != null) {
            Path fixtures = model.getParent().getParent().resolve("fixtures");
            if (Files.isDirectory(fixtures)) {
                try (Stream<Path> s = Files.list(fixtures)) {
                    s.sorted().map(p -> p.resolve("tokenizer")).forEach(candidates::add);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        }
        for (Path c : candidates) {
            if (Files.isRegularFile(c.resolve("vocab.json")) && Files.isRegularFile(c.resolve("merges.txt"))) {
                return c;
            }
        }
        return null;
    }

    private static void deleteQuietly(Path dir) {
        if (dir == null) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // best effort
        }
    }
}
