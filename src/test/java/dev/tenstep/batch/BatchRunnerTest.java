package dev.tenstep.batch;

import dev.tenstep.pipeline.GenerationRecord;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tenstep.batch.GenerationOptions;
import dev.tenstep.cli.DjlEnvironment;
import dev.tenstep.io.PngImages;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import dev.tenstep.pipeline.StepProgress;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** BatchRunner on the tiny SD 1.5 fixture (64x64 images), with the pipeline loaded once. */
class BatchRunnerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static StableDiffusionPipeline pipeline;

    @TempDir
    Path tmp;

    @BeforeAll
    static void load() {
        DjlEnvironment.configure();
        pipeline = StableDiffusionPipeline.load(Fixtures.dir(Fixtures.SD15));
    }

    @AfterAll
    static void close() {
        pipeline.close();
    }

    /** Simulates a kill: an Error is not caught as a line failure and ends the run on the spot. */
    static final class Killed extends Error {
        Killed() {
            super("killed by test");
        }
    }

    /** Counts generations and can kill the run while image {@code killAt} (1-based) is being denoised. */
    static final class Counter implements BatchRunner.Observer {
        final int killAt;
        final AtomicInteger recorded = new AtomicInteger();
        final List<String> failures = new ArrayList<>();
        final List<String> warnings = new ArrayList<>();
        final Map<String, Long> randomSeeds = new TreeMap<>();
        final List<Boolean> randomSeedReused = new ArrayList<>();

        Counter(int killAt) {
            this.killAt = killAt;
        }

        @Override
        public void randomSeed(PromptEntry e, long seed, boolean reused) {
            randomSeeds.put(e.location(), seed);
            randomSeedReused.add(reused);
        }

        @Override
        public void step(BatchRunner.Job job, StepProgress p) {
            if (recorded.get() + 1 == killAt && p.step() == 1) {
                throw new Killed();
            }
        }

        @Override
        public void recorded(BatchRunner.Job job, GenerationRecord r) {
            recorded.incrementAndGet();
        }

        @Override
        public void failed(BatchRunner.Failure f) {
            failures.add(f.message());
        }

        @Override
        public void warning(String message) {
            warnings.add(message);
        }
    }

    private static GenerationOptions defaults(long seedBase) {
        GenerationOptions d = new GenerationOptions();
        d.steps = 2;
        d.cfgScale = 7.0;
        d.seed = seedBase;
        return d;
    }

    private Path promptFile(String name, String... lines) throws IOException {
        Path f = tmp.resolve(name);
        Files.write(f, List.of(lines), StandardCharsets.UTF_8);
        return f;
    }

    private static BatchRunner.Summary run(List<Path> files, Path out, GenerationOptions d, String compare, boolean resume,
                                           BatchRunner.Observer obs) throws IOException {
        List<Variant> vs = compare == null ? List.of() : Variant.parseList(compare);
        return new BatchRunner(pipeline, new BatchRunner.Settings(files, out, d, vs, resume), obs).run();
    }

    /** As {@link #run}, with the contact sheet written at most every {@code interval} of the clock {@code nanos}. */
    private static BatchRunner.Summary run(List<Path> files, Path out, GenerationOptions d, BatchRunner.Observer obs,
                                           java.time.Duration interval, java.util.function.LongSupplier nanos)
            throws IOException {
        return new BatchRunner(pipeline, new BatchRunner.Settings(files, out, d, List.of(), true), obs, interval, nanos)
                .run();
    }

    private static List<JsonNode> manifest(Path out) throws IOException {
        List<JsonNode> recs = new ArrayList<>();
        for (String line : Files.readAllLines(out.resolve(Manifest.FILE))) {
            recs.add(JSON.readTree(line));
        }
        return recs;
    }

    /** The records without the fields that legitimately differ between runs (wall times, creation time). */
    private static List<JsonNode> stable(List<JsonNode> recs) {
        List<JsonNode> out = new ArrayList<>();
        for (JsonNode r : recs) {
            ObjectNode c = r.deepCopy();
            c.remove("timings");
            c.remove("created");
            out.add(c);
        }
        out.sort((a, b) -> a.get("key").asText().compareTo(b.get("key").asText()));
        return out;
    }

    /** File name -> bytes of every file in the folder (no temp files may remain). */
    private static Map<String, byte[]> files(Path dir) throws IOException {
        Map<String, byte[]> m = new TreeMap<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                m.put(p.getFileName().toString(), Files.readAllBytes(p));
            }
        }
        return m;
    }

    /** The image files the contact sheet shows, in order. */
    private static List<String> sheetImages(Path out) throws IOException {
        List<String> srcs = new ArrayList<>();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("<img src=\"([^\"]*)\"")
                .matcher(Files.readString(out.resolve(BatchRunner.INDEX)));
        while (m.find()) {
            srcs.add(m.group(1));
        }
        return srcs;
    }

    @Test
    void mixedFileImagesManifestAndFailures() throws IOException {
        Path f = promptFile("mixed.txt",
                "# a comment",
                "a lighthouse on a cliff, oil painting",
                "",
                "--prompt \"a <b>bold</b> \\\"fox\\\"\" --negative_prompt 'blurry, lowres' --steps 3 --cfg_scale 5 --seed 77 --sampler_name ddim",
                "--prompt x --restore_faces",
                "   # another comment",
                "--prompt tiny --width 32 --height 32 --sampler ddpm");
        Path out = tmp.resolve("out");
        Counter c = new Counter(-1);
        BatchRunner.Summary s = run(List.of(f), out, defaults(100), null, true, c);

        assertEquals(3, s.images());
        assertEquals(3, s.generated());
        assertEquals(1, s.exitCode());
        assertEquals(1, s.failures().size());
        String msg = s.failures().get(0).message();
        assertTrue(msg.startsWith(f + ":5: ") && msg.contains("--restore_faces"), msg);
        assertEquals(List.of(msg), c.failures);

        List<JsonNode> recs = manifest(out);
        assertEquals(3, recs.size());
        JsonNode plain = recs.get(0);
        assertEquals("a lighthouse on a cliff, oil painting", plain.get("prompt").asText());
        assertEquals(f + ":2", plain.get("source").asText());
        assertEquals(100, plain.get("seed").asLong(), "line 0 gets the base");
        assertEquals(100, plain.get("seed_base").asLong());
        assertEquals("ge", plain.get("sampler").asText());
        assertEquals("log-linear", plain.get("schedule").asText());
        assertEquals(2.0, plain.get("gamma").asDouble());
        assertEquals(2, plain.get("steps").asInt());
        assertEquals(7.0, plain.get("cfg_scale").asDouble());
        assertEquals(64, plain.get("width").asInt());
        assertEquals(64, plain.get("height").asInt());
        assertEquals("tiny-sd15", plain.get("model").asText());
        assertEquals("mixed-0002-ge-log-linear.png", plain.get("file").asText());
        for (String k : List.of("key", "variant", "negative_prompt", "sha256", "noise_sha256", "infotext", "created")) {
            assertTrue(plain.has(k), k);
        }
        for (String k : List.of("text_encoder_ms", "text_encoding_reused", "denoise_ms", "decode_ms", "write_ms")) {
            assertTrue(plain.get("timings").has(k), k);
        }

        JsonNode opt = recs.get(1);
        assertEquals("a <b>bold</b> \"fox\"", opt.get("prompt").asText());
        assertEquals("blurry, lowres", opt.get("negative_prompt").asText());
        assertEquals(77, opt.get("seed").asLong(), "the line's own seed");
        assertEquals("ddim", opt.get("sampler").asText());
        assertEquals("ddim", opt.get("schedule").asText());
        assertEquals(3, opt.get("steps").asInt());
        assertEquals(5.0, opt.get("cfg_scale").asDouble());

        JsonNode small = recs.get(2);
        assertEquals(103, small.get("seed").asLong(), "4th prompt line (index 3, the bad line counts) gets base + 3");
        assertEquals(32, small.get("width").asInt());
        assertEquals("ddpm:trailing", small.get("variant").asText());

        for (JsonNode r : recs) {
            Path png = out.resolve(r.get("file").asText());
            byte[] bytes = Files.readAllBytes(png);
            assertEquals(dev.tenstep.io.Hashes.sha256(bytes), r.get("sha256").asText());
            assertEquals(r.get("infotext").asText(), PngImages.readText(png).get(PngImages.PARAMETERS));
            assertEquals(r.get("width").asInt(), javax.imageio.ImageIO.read(png.toFile()).getWidth());
        }
        assertTrue(opt.get("infotext").asText().contains("Negative prompt: blurry, lowres"));

        String html = Files.readString(out.resolve(BatchRunner.INDEX));
        assertTrue(html.contains("a &lt;b&gt;bold&lt;/b&gt; &quot;fox&quot;"), "prompt escaped");
        assertFalse(html.contains("<b>bold</b>"), "no raw prompt HTML");
        assertTrue(html.contains("src=\"mixed-0002-ge-log-linear.png\""));
        assertTrue(html.contains("title=\"a lighthouse on a cliff, oil painting\nSteps: 2"), "parameters tooltip");
        assertTrue(html.contains("--restore_faces"), "failed line shown with its reason");
    }

    @Test
    void killedRunResumesToTheSameResultWithoutRedoingWork() throws IOException {
        Path f = promptFile("resume.txt", "a red cube", "--prompt \"a blue sphere\" --seed 3", "a green cone", "a yellow torus");
        String compare = "ddim:ddim,ge:log-linear";
        Path full = tmp.resolve("full");
        Counter whole = new Counter(-1);
        assertEquals(0, run(List.of(f), full, defaults(10), compare, true, whole).exitCode());
        assertEquals(8, whole.recorded.get());

        Path out = tmp.resolve("killed");
        int k = 3;
        Counter first = new Counter(k + 1);
        assertThrows(Killed.class, () -> run(List.of(f), out, defaults(10), compare, true, first));
        assertEquals(k, first.recorded.get());
        assertEquals(k, manifest(out).size(), "only the finished images have records");
        try (Stream<Path> s = Files.list(out)) {
            assertEquals(k, s.filter(p -> p.toString().endsWith(".png")).count(), "the image in flight left no file");
        }
        assertTrue(manifest(out).stream().map(r -> r.get("file").asText()).toList().containsAll(sheetImages(out)),
                "the interrupted run left a contact sheet of finished images only");
        Map<String, byte[]> beforeResume = files(out);

        Counter second = new Counter(-1);
        BatchRunner.Summary s = run(List.of(f), out, defaults(10), compare, true, second);
        assertEquals(8 - k, second.recorded.get(), "finished images are not regenerated");
        assertEquals(8 - k, s.generated());
        assertEquals(k, s.skipped());
        assertEquals(0, s.exitCode());

        Map<String, byte[]> a = files(full);
        Map<String, byte[]> b = files(out);
        assertEquals(a.keySet(), b.keySet(), "same set of files");
        for (String name : a.keySet()) {
            if (name.endsWith(".png")) {
                assertArrayEquals(a.get(name), b.get(name), name + " byte-identical");
            }
        }
        for (Map.Entry<String, byte[]> e : beforeResume.entrySet()) {
            if (e.getKey().endsWith(".png")) {
                assertArrayEquals(e.getValue(), b.get(e.getKey()), "kept as it was: " + e.getKey());
            }
        }
        assertEquals(stable(manifest(full)), stable(manifest(out)), "same records");
        assertEquals(sheetImages(full), sheetImages(out), "same contact sheet");
        assertEquals(8, sheetImages(out).size());

        Counter third = new Counter(-1);
        BatchRunner.Summary again = run(List.of(f), out, defaults(10), compare, true, third);
        assertEquals(0, third.recorded.get());
        assertEquals(8, again.skipped());
        assertEquals(8, manifest(out).size());
    }

    @Test
    void killBetweenFileAndRecordRedoesOnlyThatImage() throws IOException {
        Path f = promptFile("gap.txt", "one", "two");
        Path out = tmp.resolve("gap");
        BatchRunner.Observer killAfterFile = new BatchRunner.Observer() {
            @Override
            public void written(BatchRunner.Job job, Path png) {
                if (job.entry().line() == 2) {
                    throw new Killed();
                }
            }
        };
        assertThrows(Killed.class, () -> run(List.of(f), out, defaults(5), null, true, killAfterFile));
        assertEquals(1, manifest(out).size());
        byte[] orphan = Files.readAllBytes(out.resolve("gap-0002-ge-log-linear.png"));
        Counter c = new Counter(-1);
        run(List.of(f), out, defaults(5), null, true, c);
        assertEquals(1, c.recorded.get(), "the file without a record is made again");
        assertArrayEquals(orphan, Files.readAllBytes(out.resolve("gap-0002-ge-log-linear.png")));
        assertEquals(2, manifest(out).size());
    }

    @Test
    void compareGivesPairsWithIdenticalNoiseAndDifferentImages() throws IOException {
        Path f = promptFile("cmp.txt", "a cat", "a dog");
        Path out = tmp.resolve("cmp");
        BatchRunner.Summary s = run(List.of(f), out, defaults(42), "ddim:ddim,ge:log-linear", true, null);
        assertEquals(4, s.generated());
        List<JsonNode> recs = manifest(out);
        for (int line = 0; line < 2; line++) {
            JsonNode ddim = recs.get(2 * line);
            JsonNode ge = recs.get(2 * line + 1);
            assertEquals("ddim:ddim", ddim.get("variant").asText());
            assertEquals("ge:log-linear", ge.get("variant").asText());
            assertEquals(ddim.get("seed"), ge.get("seed"));
            assertEquals(ddim.get("noise_sha256"), ge.get("noise_sha256"), "same starting noise");
            assertNotEquals(ddim.get("sha256"), ge.get("sha256"), "different images");
            assertFalse(ddim.get("timings").get("text_encoding_reused").asBoolean());
            assertTrue(ge.get("timings").get("text_encoding_reused").asBoolean(), "the prompt is encoded once per line");
        }
        assertNotEquals(recs.get(0).get("noise_sha256"), recs.get(2).get("noise_sha256"), "seeds 42 and 43 differ");
        String html = Files.readString(out.resolve(BatchRunner.INDEX));
        assertTrue(html.indexOf("<th>ddim:ddim</th>") < html.indexOf("<th>ge:log-linear</th>"));
    }

    @Test
    void tornManifestLineIsIgnoredAndRepaired() throws IOException {
        Path f = promptFile("torn.txt", "first", "second");
        Path out = tmp.resolve("torn");
        run(List.of(f), out, defaults(1), null, true, null);
        Path m = out.resolve(Manifest.FILE);
        List<String> good = Files.readAllLines(m);
        // a record cut off mid-append, and garbage in the middle
        Files.writeString(m, good.get(0) + "\n{not json}\n" + good.get(1) + "\n" + good.get(1).substring(0, 40),
                StandardOpenOption.TRUNCATE_EXISTING);
        Counter c = new Counter(-1);
        BatchRunner.Summary s = run(List.of(f), out, defaults(1), null, true, c);
        assertEquals(0, c.recorded.get(), "both images are still done");
        assertEquals(2, s.skipped());
        assertEquals(2, c.warnings.size(), c.warnings.toString());
        assertTrue(c.warnings.get(0).contains("manifest.jsonl:2: invalid record"), c.warnings.toString());
        assertTrue(c.warnings.get(1).contains("torn"), c.warnings.toString());
        assertEquals(good, Files.readAllLines(m), "repaired: only valid records remain");
        assertTrue(Files.readString(m).endsWith("\n"));
    }

    @Test
    void changedLineOrDamagedFileIsRedone() throws IOException {
        Path f = promptFile("edit.txt", "alpha", "beta");
        Path out = tmp.resolve("edit");
        run(List.of(f), out, defaults(1), null, true, null);
        Files.write(f, List.of("alpha", "beta, edited"));
        Files.write(out.resolve("edit-0001-ge-log-linear.png"), new byte[]{1, 2, 3});
        Counter c = new Counter(-1);
        run(List.of(f), out, defaults(1), null, true, c);
        assertEquals(2, c.recorded.get(), "an edited line and a damaged file are generated again");

        Counter fresh = new Counter(-1);
        BatchRunner.Summary s = run(List.of(f), out, defaults(1), null, false, fresh);
        assertEquals(2, fresh.recorded.get(), "--no-resume starts over");
        assertEquals(2, manifest(out).size(), "--no-resume empties the manifest");
        assertEquals(0, s.skipped());
    }

    @Test
    void randomSeedBaseIsRecordedAndReusedOnResume() throws IOException {
        Path f = promptFile("rnd.txt", "p0", "p1");
        Path out = tmp.resolve("rnd");
        BatchRunner.Summary s1 = run(List.of(f), out, defaults(-1), null, true, null);
        assertTrue(s1.seedBase() >= 0);
        List<JsonNode> recs = manifest(out);
        assertEquals(s1.seedBase(), recs.get(0).get("seed_base").asLong());
        assertEquals(s1.seedBase() + 1, recs.get(1).get("seed").asLong());
        BatchRunner.Summary s2 = run(List.of(f), out, defaults(-1), null, true, null);
        assertEquals(s1.seedBase(), s2.seedBase());
        assertEquals(2, s2.skipped());
    }

    @Test
    void contactSheetIsCurrentAfterEveryImageWithAZeroInterval() throws IOException {
        Path f = promptFile("live.txt", "one", "--prompt two --steps lots", "three", "four");
        Path out = tmp.resolve("live");
        List<List<String>> seen = new ArrayList<>();
        BatchRunner.Observer obs = new BatchRunner.Observer() {
            @Override
            public void started(int total, int done, long seedBase) {
                try {
                    assertEquals(List.of(), sheetImages(out), "a sheet exists before the first image");
                    assertTrue(Files.readString(out.resolve(BatchRunner.INDEX)).contains("--steps"), "with the bad line");
                } catch (IOException e) {
                    throw new AssertionError(e);
                }
            }

            @Override
            public void step(BatchRunner.Job job, StepProgress p) {
                if (p.step() == 1) {
                    try {
                        seen.add(sheetImages(out));
                    } catch (IOException e) {
                        throw new AssertionError(e);
                    }
                }
            }
        };
        run(List.of(f), out, defaults(3), obs, java.time.Duration.ZERO, System::nanoTime);
        assertEquals(List.of(List.of(), List.of("live-0001-ge-log-linear.png"),
                List.of("live-0001-ge-log-linear.png", "live-0003-ge-log-linear.png")), seen,
                "while image n is denoised, the sheet shows the n - 1 finished ones");
        assertEquals(3, sheetImages(out).size());
    }

    @Test
    void contactSheetIsWrittenAtStartEndAndAtMostOncePerInterval() throws IOException {
        Path f = promptFile("slow.txt", "one", "two", "three", "four");
        Path out = tmp.resolve("slow");
        // a clock that advances 4 s per reading: the sheet is due again on every third reading after a write
        java.util.concurrent.atomic.AtomicLong clock = new java.util.concurrent.atomic.AtomicLong();
        java.util.function.LongSupplier nanos = () -> clock.addAndGet(4_000_000_000L);
        List<List<String>> seen = new ArrayList<>();
        BatchRunner.Observer obs = new BatchRunner.Observer() {
            @Override
            public void step(BatchRunner.Job job, StepProgress p) {
                if (p.step() == 1) {
                    try {
                        seen.add(sheetImages(out));
                    } catch (IOException e) {
                        throw new AssertionError(e);
                    }
                }
            }
        };
        run(List.of(f), out, defaults(1), obs, BatchRunner.SHEET_INTERVAL, nanos);
        // readings: start 4 s (written); after image 1: 8 s (4 s old: skipped); image 2: 12 s (8 s: skipped);
        // image 3: 16 s (12 s: written); then the end writes it whatever the clock
        assertEquals(List.of(List.of(), List.of(), List.of(),
                List.of("slow-0001-ge-log-linear.png", "slow-0002-ge-log-linear.png", "slow-0003-ge-log-linear.png")),
                seen, "the sheet is written after an image only when its last write is at least 10 s old");
        assertEquals(4, sheetImages(out).size(), "the end of the run writes the whole sheet");
        assertFalse(Files.readString(out.resolve(BatchRunner.INDEX)).contains("still running"), "a finished sheet");
    }

    @Test
    void negativeLineSeedIsDrawnOnceRecordedAndReusedOnResume() throws IOException {
        Path f = promptFile("rs.txt", "--prompt a --seed -1", "--prompt b --seed -5", "--prompt c --seed 9", "d");
        String compare = "ddim:ddim,ge:log-linear";
        Path out = tmp.resolve("rs");
        // killed after 3 images: line 1 has both variants, line 2 only ddim
        Counter killed = new Counter(4);
        assertThrows(Killed.class, () -> run(List.of(f), out, defaults(100), compare, true, killed));
        assertEquals(2, killed.randomSeeds.size(), "one random seed per line with a negative --seed: " + killed.randomSeeds);
        assertEquals(List.of(false, false), killed.randomSeedReused, "drawn, not reused");
        long seedA = killed.randomSeeds.get(f + ":1");
        long seedB = killed.randomSeeds.get(f + ":2");
        assertTrue(seedA >= 0 && seedB >= 0);
        List<JsonNode> recs = manifest(out);
        assertEquals(3, recs.size());
        for (JsonNode r : recs.subList(0, 2)) {
            assertEquals(seedA, r.get("seed").asLong(), "both variants of the line share the drawn seed");
            assertTrue(r.get("random_seed").asBoolean());
        }
        assertEquals(seedB, recs.get(2).get("seed").asLong());
        ObjectNode old = recs.get(0).deepCopy();
        old.remove("random_seed");
        assertFalse(Boolean.TRUE.equals(Manifest.JSON.readValue(old.toString(), GenerationRecord.class).randomSeed()),
                "records of earlier versions (no random_seed) still load");

        Counter resume = new Counter(-1);
        BatchRunner.Summary s = run(List.of(f), out, defaults(100), compare, true, resume);
        assertEquals(Map.of(f + ":1", seedA, f + ":2", seedB), resume.randomSeeds, "resume reuses the recorded seeds");
        assertEquals(List.of(true, true), resume.randomSeedReused);
        assertEquals(3, s.skipped(), "the finished images of random-seed lines are not redone");
        assertEquals(5, s.generated());
        recs = manifest(out);
        Map<String, Long> bySource = new TreeMap<>();
        for (JsonNode r : recs) {
            Long prev = bySource.put(r.get("source").asText(), r.get("seed").asLong());
            assertTrue(prev == null || prev == r.get("seed").asLong(), "one seed per line");
        }
        assertEquals(seedB, bySource.get(f + ":2"), "the missing variant of line 2 uses the line's recorded seed");
        assertEquals(9, bySource.get(f + ":3"));
        assertEquals(103, bySource.get(f + ":4"), "lines without --seed still get base + index");
        assertFalse(recs.get(recs.size() - 1).get("random_seed").asBoolean());

        Counter fresh = new Counter(-1);
        run(List.of(f), out, defaults(100), compare, false, fresh);
        assertEquals(List.of(false, false), fresh.randomSeedReused, "--no-resume draws again");
    }

    @Test
    void resumeRedoesAnImageWhoseRngClipSkipOrPromptSyntaxChanged() throws IOException {
        Path f = promptFile("text.txt", "a (red:1.5) cube");
        Path out = tmp.resolve("text");
        GenerationOptions d = defaults(4);
        run(List.of(f), out, d, null, true, null);
        JsonNode rec = manifest(out).get(0);
        assertEquals("a1111", rec.get("prompt_syntax").asText());
        assertEquals(1, rec.get("clip_skip").asInt());
        assertEquals("philox", rec.get("rng").asText());
        String sha = rec.get("sha256").asText();

        Counter same = new Counter(-1);
        assertEquals(1, run(List.of(f), out, d, null, true, same).skipped(), "nothing changed: skipped");
        String[][] changes = {{"rng", "torch-cpu"}, {"clip_skip", "2"}, {"prompt_syntax", "plain"}};
        for (String[] c : changes) {
            switch (c[0]) {
                case "rng" -> d.rng = c[1];
                case "clip_skip" -> d.clipSkip = Integer.parseInt(c[1]);
                default -> d.promptSyntax = c[1];
            }
            Counter redo = new Counter(-1);
            BatchRunner.Summary s = run(List.of(f), out, d, null, true, redo);
            assertEquals(0, s.skipped(), c[0] + " changed: the image is redone");
            assertEquals(1, redo.recorded.get());
            JsonNode last = manifest(out).get(manifest(out).size() - 1);
            assertEquals(c[1], last.get(c[0]).asText(), "the new record names the new " + c[0]);
            assertNotEquals(sha, last.get("sha256").asText(), c[0] + " changes the picture");
            sha = last.get("sha256").asText();
        }
        JsonNode last = manifest(out).get(manifest(out).size() - 1);
        assertEquals(List.of("torch-cpu", "2", "plain"), List.of(last.get("rng").asText(), last.get("clip_skip").asText(),
                last.get("prompt_syntax").asText()), "all three recorded together");
        assertTrue(last.get("infotext").asText().contains("Clip skip: 2, RNG: CPU, Emphasis: None"), last.get("infotext").asText());
        assertEquals(1, run(List.of(f), out, d, null, true, null).skipped(), "unchanged again: skipped");
    }

    /** Removes the fields earlier versions did not write from every manifest line. */
    private static void stripPromptFields(Path out) throws IOException {
        List<String> lines = new ArrayList<>();
        for (JsonNode r : manifest(out)) {
            ObjectNode o = r.deepCopy();
            o.remove(List.of("rng", "clip_skip", "prompt_syntax"));
            lines.add(o.toString());
        }
        Files.write(out.resolve(Manifest.FILE), lines, StandardCharsets.UTF_8);
    }

    @Test
    void manifestLinesOfEarlierVersionsMeanTheBehaviourOfThen() throws IOException {
        // before these fields were recorded: the tenstep RNG, clip skip 1, literal prompts cut at 77 tokens
        String longPrompt = dev.tenstep.pipeline.prompt.A1111ConditioningTestWords.LONG;
        Path f = promptFile("old.txt", "a (red) cube", longPrompt);
        Path out = tmp.resolve("old");
        GenerationOptions then = defaults(6);
        then.rng = "tenstep";
        then.promptSyntax = "plain";
        run(List.of(f), out, then, null, true, null);
        stripPromptFields(out);
        GenerationRecord old = Manifest.JSON.readValue(Files.readAllLines(out.resolve(Manifest.FILE)).get(0),
                GenerationRecord.class);
        assertEquals(List.of("tenstep", "1", "plain"), List.of(old.effectiveRng(), Integer.toString(old.effectiveClipSkip()),
                old.effectivePromptSyntax()));
        assertTrue(old.predatesPromptFields());

        Counter c = new Counter(-1);
        BatchRunner.Summary s = run(List.of(f), out, then, null, true, c);
        assertEquals(1, s.skipped(), "the short line, made as asked (tenstep, plain, clip skip 1), is kept");
        assertEquals(1, s.generated(), "the 150-token line was cut at 77 tokens then: redone in two chunks");
        assertEquals(longPrompt, manifest(out).get(2).get("prompt").asText());

        stripPromptFields(out);
        Counter now = new Counter(-1);
        BatchRunner.Summary s2 = run(List.of(f), out, defaults(6), null, true, now);
        assertEquals(0, s2.skipped(), "today's defaults (philox, a1111) are not what old lines were made with");
        assertEquals(2, s2.generated());
    }

    @Test
    void aLineIsEncodedWithItsOwnSyntaxAndClipSkip() throws IOException {
        // "(x:1.2.3)" is an emphasis error in A1111 syntax, plain text in plain syntax
        Path f = promptFile("own.txt", "--prompt \"a (x:1.2.3) cube\" --prompt-syntax plain --clip-skip 2");
        Path out = tmp.resolve("own");
        Counter c = new Counter(-1);
        BatchRunner.Summary s = run(List.of(f), out, defaults(3), "ddim:ddim,ge:log-linear", true, c);
        assertEquals(List.of(), c.failures, "encoded as plain text, not read as A1111 emphasis");
        assertEquals(2, s.generated());
        List<JsonNode> recs = manifest(out);
        assertEquals(2, recs.size());
        for (JsonNode r : recs) {
            assertEquals("plain", r.get("prompt_syntax").asText());
            assertEquals(2, r.get("clip_skip").asInt());
        }
    }
}
