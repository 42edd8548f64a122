package dev.tenstep.batch.spark;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tenstep.batch.BatchRunner;
import dev.tenstep.batch.CaptionsFile;
import dev.tenstep.batch.GenerationOptions;
import dev.tenstep.batch.Manifest;
import dev.tenstep.cli.DjlEnvironment;
import dev.tenstep.io.Hashes;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import dev.tenstep.pipeline.TextToImage;
import dev.tenstep.testing.Fixtures;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link SparkBatch} in local mode with two executor threads and two tries per task ({@code local[2,2]}) on the tiny
 * SD 1.5 fixture: retries, resume and captions. One Spark context for the class (its start is most of the time).
 */
class SparkBatchTest {
    private static JavaSparkContext spark;

    @TempDir
    Path tmp;

    /** The fixture, loaded on each executor JVM (here: this one) by {@link ExecutorPipelines}. */
    record FixtureSource(String dir) implements PipelineSource {
        @Override
        public String key() {
            return "fixture " + dir;
        }

        @Override
        public String name() {
            return Path.of(dir).getFileName().toString();
        }

        @Override
        public TextToImage open(String gpu) {
            return StableDiffusionPipeline.load(Path.of(dir));
        }
    }

    private static final FixtureSource SOURCE = new FixtureSource(Fixtures.dir(Fixtures.SD15).toString());

    @BeforeAll
    static void start() {
        DjlEnvironment.configure();
        spark = new JavaSparkContext(new SparkConf().setMaster("local[2,2]").setAppName("SparkBatchTest")
                .set("spark.ui.enabled", "false").set("spark.driver.bindAddress", "127.0.0.1")
                .set("spark.driver.host", "localhost"));
    }

    @AfterAll
    static void stop() {
        spark.close();
        ExecutorPipelines.closeAll();
    }

    @AfterEach
    void noHook() {
        RenderLines.hook = RenderLines.ImageHook.NONE;
    }

    private static GenerationOptions defaults() {
        GenerationOptions d = new GenerationOptions();
        d.steps = 2;
        d.cfgScale = 7.0;
        d.seed = 10;
        d.width = 32;
        d.height = 32;
        return d;
    }

    private static BatchRunner.Summary run(List<Path> prompts, Path captions, CaptionsFile.PerImage perImage,
                                           Path out, String compare, int partitions) throws IOException {
        return new SparkBatch(spark, SOURCE, new SparkBatch.Settings(prompts, captions, perImage, null,
                out.toString(), defaults(), compare, true, partitions), null).run();
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aTaskThatFailsOnceIsRetriedAndEveryImageExistsOnce() throws IOException {
        Path f = tmp.resolve("retry.txt");
        Files.write(f, List.of("a red cube", "a blue sphere", "a green cone", "a yellow torus"), StandardCharsets.UTF_8);
        AtomicInteger thrown = new AtomicInteger();
        // the task of lines 0-1 dies after line 1's first image is stored: its retry makes lines 0 and 1 again
        RenderLines.hook = (index, attempt) -> {
            if (index == 1 && attempt == 0) {
                thrown.incrementAndGet();
                throw new IllegalStateException("test: the task dies once");
            }
        };
        Path out = tmp.resolve("out");
        BatchRunner.Summary s = run(List.of(f), null, null, out, "ddim:ddim,ge:log-linear", 2);

        assertEquals(1, thrown.get(), "the first attempt failed");
        assertEquals(0, s.exitCode(), String.valueOf(s.failures()));
        assertEquals(8, s.generated());
        List<String> pngs = names(out).stream().filter(n -> n.endsWith(".png")).toList();
        assertEquals(8, pngs.size(), "4 lines x 2 variants, none twice: " + names(out));
        assertEquals(10, names(out).size(), "plus manifest.jsonl and index.html, no temporary file: " + names(out));
        List<String> lines = Files.readAllLines(out.resolve(Manifest.FILE));
        assertEquals(8, lines.size());
        Set<String> keys = new HashSet<>();
        for (String line : lines) {
            JsonNode r = new com.fasterxml.jackson.databind.ObjectMapper().readTree(line);
            assertTrue(keys.add(r.get("key").asText()), "one record per image: " + r.get("key"));
            byte[] png = Files.readAllBytes(out.resolve(r.get("file").asText()));
            assertEquals(r.get("sha256").asText(), Hashes.sha256(png), "the record describes the file on disk");
        }
        assertEquals(List.of(0, 0, 1, 1, 2, 2, 3, 3), lines.stream().map(l -> l.replaceAll(".*\"index\":(\\d+).*", "$1"))
                .map(Integer::valueOf).toList(), "ordered by prompt index");
        assertEquals(1, ExecutorPipelines.loads(SOURCE, null), "the executor JVM loaded the model once");
    }

    @Test
    void aSecondRunAfterDeletingImagesMakesOnlyThoseAgainCaptionsIncluded() throws IOException {
        Path f = tmp.resolve("prompts.txt");
        Files.write(f, List.of("a red cube", "--prompt 'a blue sphere' --seed 3"), StandardCharsets.UTF_8);
        Path captions = tmp.resolve("captions.json");
        Files.writeString(captions, """
                {"annotations": [
                  {"image_id": 7, "id": 1, "caption": "A red circle."},
                  {"image_id": 9, "id": 2, "caption": "A blue square (left)."},
                  {"image_id": 7, "id": 3, "caption": "A red circle on navy.\\n"},
                  {"image_id": 9, "id": 4, "caption": "A small blue square."}
                ]}""");
        Path out = tmp.resolve("out");
        BatchRunner.Summary first = run(List.of(f), captions, CaptionsFile.PerImage.LAST, out, null, 0);
        assertEquals(0, first.exitCode(), String.valueOf(first.failures()));
        assertEquals(4, first.generated());
        List<JsonNode> before = SparkBatchMainTest.stable(out);
        assertEquals(List.of("a red cube", "a blue sphere", "A red circle on navy.", "A small blue square."),
                before.stream().map(r -> r.get("prompt").asText()).toList(), "the last caption of each image");
        assertEquals(List.of(f + ":1", f + ":2", captions + ":3", captions + ":4"),
                before.stream().map(r -> r.get("source").asText()).toList(), "captions are named by annotation");
        assertEquals(List.of(10L, 3L, 12L, 13L), before.stream().map(r -> r.get("seed").asLong()).toList());
        assertEquals("plain", before.get(2).get("prompt_syntax").asText(), "captions are literal text");

        Map<String, byte[]> bytes = SparkBatchMainTest.pngs(out);
        Map<String, FileTime> times = new HashMap<>();
        for (String n : bytes.keySet()) {
            times.put(n, Files.getLastModifiedTime(out.resolve(n)));
        }
        String gone1 = before.get(1).get("file").asText();
        String gone2 = before.get(3).get("file").asText();
        Files.delete(out.resolve(gone1));
        Files.delete(out.resolve(gone2));

        BatchRunner.Summary second = run(List.of(f), captions, CaptionsFile.PerImage.LAST, out, null, 0);
        assertEquals(2, second.generated(), "only the deleted images");
        assertEquals(2, second.skipped());
        assertEquals(before, SparkBatchMainTest.stable(out), "the same records, one per image, in order");
        Map<String, byte[]> after = SparkBatchMainTest.pngs(out);
        assertEquals(bytes.keySet(), after.keySet());
        for (String n : bytes.keySet()) {
            assertArrayEquals(bytes.get(n), after.get(n), n);
            if (!n.equals(gone1) && !n.equals(gone2)) {
                assertEquals(times.get(n), Files.getLastModifiedTime(out.resolve(n)), n + " was not written again");
            }
        }
        assertFalse(names(out).stream().anyMatch(n -> n.startsWith(".")), "no temporary file: " + names(out));
    }
}
