package dev.tenstep.train;

import ai.djl.pytorch.jni.JniUtils;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.GenerationResult;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A few training steps at the tiny sizes (32 x 32 pictures): the losses fall, a run interrupted twice
 * (once in each stage) and resumed ends with the same bytes as an uninterrupted one, and the written
 * folder loads in the ordinary pipeline and generates. One intra-op thread, so that the test is as
 * fast on a loaded machine and both runs sum in the same order.
 */
class TrainerTest {
    static final int VAE_STEPS = 12;
    static final int UNET_STEPS = 16;
    static final int DECODER_STEPS = 8;

    @TempDir
    static Path tmp;
    static Path uninterrupted;
    static int threads;

    @BeforeAll
    static void trainOnce() throws IOException {
        ai.djl.engine.Engine.getInstance();
        threads = JniUtils.getNumThreads();
        JniUtils.setNumThreads(1);
        uninterrupted = new Trainer(options(tmp.resolve("a")), quiet()).run(false, 0);
    }

    @AfterAll
    static void restoreThreads() {
        JniUtils.setNumThreads(threads);
    }

    static TrainOptions options(Path dir) {
        return new TrainOptions(dir.resolve("model"), dir.resolve("checkpoints"), "tiny", ModelSizes.tiny(),
                TrainingData.shapes(32), 7, VAE_STEPS, UNET_STEPS, DECODER_STEPS, 4, 4, 3e-3, 2e-3, 2, 1e-3, 0.1, 5.0, 4, true);
    }

    static Trainer.Listener quiet() {
        return new Trainer.Listener() {
            @Override
            public void step(int stage, int step, int total, float loss) {
            }

            @Override
            public void log(String line) {
            }
        };
    }

    static List<float[]> losses(Path model) throws IOException {
        List<String> lines = Files.readAllLines(model.resolve(Trainer.LOSS_LOG));
        assertEquals("stage,step,loss", lines.get(0));
        List<List<Float>> stages = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        for (String l : lines.subList(1, lines.size())) {
            String[] f = l.split(",");
            stages.get(Integer.parseInt(f[0]) - 1).add(Float.parseFloat(f[2]));
        }
        List<float[]> r = new ArrayList<>();
        for (List<Float> stage : stages) {
            float[] a = new float[stage.size()];
            for (int i = 0; i < a.length; i++) {
                a[i] = stage.get(i);
            }
            r.add(a);
        }
        return r;
    }

    static double mean(float[] v, int from, int to) {
        double s = 0;
        for (int i = from; i < to; i++) {
            s += v[i];
        }
        return s / (to - from);
    }

    @Test
    void heldOutLossesFallInEveryStage() throws IOException {
        List<float[]> l = losses(uninterrupted);
        assertEquals(VAE_STEPS, l.get(0).length);
        assertEquals(UNET_STEPS, l.get(1).length);
        assertEquals(DECODER_STEPS, l.get(2).length);
        JsonNode record = new ObjectMapper().readTree(uninterrupted.resolve("training.json").toFile());
        // the training losses are of random batches (noisy); the held-out batch is the same at every check
        for (String stage : List.of("vae_eval", "unet_eval")) {
            JsonNode eval = record.get(stage);
            int last = stage.equals("vae_eval") ? VAE_STEPS : UNET_STEPS;
            assertEquals(stage.equals("vae_eval") ? Set.of("0", "4", "8", "12") : Set.of("0", "4", "8", "12", "16"),
                    fieldNames(eval), stage + " checks (every checkpoint interval and at the end)");
            double first = eval.get("0").asDouble();
            double end = eval.get("" + last).asDouble();
            // the VAE's first steps fall more slowly since its posterior starts narrow (Trainer.INITIAL_LOGVAR):
            // 12 tiny steps bring its held-out L1 from 0.645 to 0.582
            double factor = stage.equals("vae_eval") ? 0.95 : 0.9;
            assertTrue(end < factor * first, stage + ": " + first + " -> " + end);
        }
        // stage 3 starts from stage 1's decoder, so it starts lower and falls less
        JsonNode decoder = record.get("decoder_eval");
        assertEquals(Set.of("0", "4", "8"), fieldNames(decoder));
        assertEquals(record.get("vae_eval").get("" + VAE_STEPS).asDouble(), decoder.get("0").asDouble(),
                "stage 3 starts from stage 1's VAE");
        assertTrue(decoder.get("" + DECODER_STEPS).asDouble() < decoder.get("0").asDouble(), decoder.toString());
    }

    static Set<String> fieldNames(JsonNode n) {
        Set<String> s = new java.util.TreeSet<>();
        n.fieldNames().forEachRemaining(s::add);
        return s;
    }

    @Test
    void resumedRunEqualsUninterruptedRunBitForBit() throws IOException {
        TrainOptions o = options(tmp.resolve("b"));
        assertNull(new Trainer(o, quiet()).run(false, 7), "stopped in stage 1");
        assertNull(new Trainer(o, quiet()).run(true, 12), "stopped in stage 2");
        assertNull(new Trainer(o, quiet()).run(true, 12), "stopped in stage 3");
        Path resumed = new Trainer(o, quiet()).run(true, 0);
        for (String f : List.of(PipelineWriter.TEXT_ENCODER_WEIGHTS, PipelineWriter.UNET_WEIGHTS, PipelineWriter.VAE_WEIGHTS,
                "vae/config.json", Trainer.LOSS_LOG, "training.json")) {
            assertArrayEquals(Files.readAllBytes(uninterrupted.resolve(f)), Files.readAllBytes(resumed.resolve(f)), f);
        }
    }

    @Test
    void refusesOtherSettingsMissingCheckpointsAndForeignOutput() {
        TrainOptions o = options(tmp.resolve("a"));
        TrainOptions other = new TrainOptions(o.output(), o.checkpoints(), "tiny", ModelSizes.tiny(), TrainingData.shapes(32),
                8, VAE_STEPS, UNET_STEPS, DECODER_STEPS, 4, 4, 3e-3, 2e-3, 2, 1e-3, 0.1, 5.0, 4, true);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Trainer(other, quiet()).run(true, 0));
        assertTrue(e.getMessage().contains("other settings"), e.getMessage());
        Path foreign = tmp.resolve("foreign");
        TrainOptions intoForeign = options(foreign);
        e = assertThrows(IllegalArgumentException.class, () -> {
            Files.createDirectories(intoForeign.output());
            Files.writeString(intoForeign.output().resolve("model_index.json"), "{}");
            new Trainer(intoForeign, quiet()).run(false, 0);
        });
        assertTrue(e.getMessage().endsWith("exists and was not written by train (no training.json); choose another folder"),
                e.getMessage());
        TrainOptions none = options(tmp.resolve("none"));
        e = assertThrows(IllegalArgumentException.class, () -> new Trainer(none, quiet()).run(true, 0));
        assertTrue(e.getMessage().startsWith("--resume: no checkpoint in "), e.getMessage());
    }

    @Test
    void writtenFolderLoadsInThePipelineAndGenerates() throws Exception {
        JsonNode vae = new ObjectMapper().readTree(uninterrupted.resolve("vae/config.json").toFile());
        JsonNode record = new ObjectMapper().readTree(uninterrupted.resolve("training.json").toFile());
        assertEquals(record.get("scaling_factor").asDouble(), vae.get("scaling_factor").asDouble());
        assertTrue(Files.isRegularFile(uninterrupted.resolve("loss.png")));
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(uninterrupted)) {
            GenerationResult r = p.generate(GenerationRequest.of("a large red circle on a black background, center")
                    .withSeed(3).withSteps(3).withSize(32, 32));
            assertEquals(32, r.image().getWidth());
            assertEquals(32, r.image().getHeight());
            assertArrayEquals(new long[] {1, 4, 8, 8}, r.latentShape());
            for (float v : r.finalLatents()) {
                assertTrue(Float.isFinite(v), "finite latents");
            }
        }
    }
}
