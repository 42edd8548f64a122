package dev.tenstep.batch.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tenstep.batch.BatchRunner;
import dev.tenstep.batch.GenerationOptions;
import dev.tenstep.batch.Manifest;
import dev.tenstep.batch.Variant;
import dev.tenstep.cli.DjlEnvironment;
import dev.tenstep.cli.SparkBatchMain;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The {@code spark-submit} main class end to end in local mode ({@code local[2]}) on the tiny SD 1.5 fixture:
 * the same files, bytes and records as {@code batch} on the same prompt file, seeds and variants.
 */
class SparkBatchMainTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void mainClassMakesTheImagesAndRecordsOfBatch() throws IOException {
        Path f = tmp.resolve("same.txt");
        Files.write(f, List.of(
                "a lighthouse on a cliff",
                "--prompt \"a <b>bold</b> fox\" --negative_prompt 'blurry' --seed 77 --cfg_scale 5",
                "--prompt x --restore_faces",
                "--prompt tiny --width 32 --height 32"), StandardCharsets.UTF_8);
        String compare = "ddim:ddim,ge:log-linear";

        Path batchOut = tmp.resolve("batch");
        GenerationOptions d = new GenerationOptions();
        d.steps = 2;
        d.cfgScale = 7.0;
        d.seed = 100;
        DjlEnvironment.configure();
        BatchRunner.Summary b;
        try (StableDiffusionPipeline p = StableDiffusionPipeline.load(Fixtures.dir(Fixtures.SD15))) {
            b = new BatchRunner(p, new BatchRunner.Settings(List.of(f), batchOut, d, Variant.parseList(compare), true),
                    BatchRunner.Observer.NONE).run();
        }
        assertEquals(6, b.generated());

        Path sparkOut = tmp.resolve("spark");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit = withStdio(out, err, () -> SparkBatchMain.run("--master", "local[2]",
                "--model", Fixtures.dir(Fixtures.SD15).toString(), "--prompts", f.toString(), "--output",
                sparkOut.toString(), "--steps", "2", "--cfg-scale", "7", "--seed", "100", "--compare", compare));
        String errText = err.toString(StandardCharsets.UTF_8);
        assertEquals(1, exit, "the bad line fails the run, as in batch: " + errText);
        assertTrue(errText.contains("error: " + f + ":3: ") && errText.contains("--restore_faces"), errText);
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("done: 6 generated, 0 skipped, 1 failed"),
                out.toString(StandardCharsets.UTF_8));

        Map<String, byte[]> batchPngs = pngs(batchOut);
        Map<String, byte[]> sparkPngs = pngs(sparkOut);
        assertEquals(batchPngs.keySet(), sparkPngs.keySet(), "the same image names");
        assertEquals(6, sparkPngs.size());
        for (String name : batchPngs.keySet()) {
            assertArrayEquals(batchPngs.get(name), sparkPngs.get(name), name + ": the same PNG bytes (pixels and infotext)");
        }
        assertEquals(stable(batchOut), stable(sparkOut), "record for record, in prompt order");
        assertEquals(sheetImages(batchOut), sheetImages(sparkOut), "the same contact sheet cells");
        try (Stream<Path> s = Files.list(sparkOut)) {
            assertEquals(8, s.count(), "6 PNGs, manifest.jsonl, index.html; no temporary or checksum file");
        }
    }

    private interface Call {
        int run();
    }

    /** Runs {@code c} with System.out and System.err captured (picocli's writers default to them). */
    private static int withStdio(ByteArrayOutputStream out, ByteArrayOutputStream err, Call c) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            return c.run();
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    static Map<String, byte[]> pngs(Path dir) throws IOException {
        Map<String, byte[]> m = new TreeMap<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.filter(p -> p.getFileName().toString().endsWith(".png")).toList()) {
                m.put(p.getFileName().toString(), Files.readAllBytes(p));
            }
        }
        return m;
    }

    /** The manifest's records, in file order, without wall times and creation times. */
    static List<JsonNode> stable(Path out) throws IOException {
        List<JsonNode> recs = new ArrayList<>();
        for (String line : Files.readAllLines(out.resolve(Manifest.FILE))) {
            ObjectNode r = (ObjectNode) JSON.readTree(line);
            r.remove("timings");
            r.remove("created");
            recs.add(r);
        }
        return recs;
    }

    private static List<String> sheetImages(Path out) throws IOException {
        List<String> srcs = new ArrayList<>();
        Matcher m = Pattern.compile("<img src=\"([^\"]*)\"").matcher(Files.readString(out.resolve(BatchRunner.INDEX)));
        while (m.find()) {
            srcs.add(m.group(1));
        }
        return srcs;
    }
}
