package dev.tenstep.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tenstep.io.Hashes;
import dev.tenstep.io.PngImages;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OutputWriterTest {
    private static final String INFOTEXT = "rocket \uD83D\uDE80 at night\nNegative prompt: blurry\n"
            + "Steps: 2, Sampler: DDIM, Schedule: ddim, CFG scale: 7.5, Seed: 3, Size: 4x3, Model: tiny-sd15";
    /** 2026-12-07T05:51:22.120Z: a time whose milliseconds end in zero (the old batch format dropped them). */
    private static final Instant CREATED = Instant.ofEpochMilli(1796622682120L);

    @TempDir
    Path dir;

    /** A finished generation's record, as {@link GenerationRecord#of} makes it (read from JSON: no request needed). */
    private static GenerationRecord record() throws IOException {
        return GenerationRecord.JSON.readValue("""
                {"prompt": "rocket \\uD83D\\uDE80 at night", "negative_prompt": "blurry", "steps": 2, "cfg_scale": 7.5,
                 "seed": 3, "sampler": "ddim", "sampler_name": "DDIM", "schedule": "ddim", "gamma": 0, "width": 4,
                 "height": 3, "prompt_syntax": "a1111", "clip_skip": 1, "rng": "philox", "model": "tiny-sd15",
                 "infotext": %s, "warnings": ["w"], "timings": {"text_encoder_ms": 5, "denoise_ms": 6,
                 "decode_ms": 7, "total_ms": 18}}
                """.formatted(GenerationRecord.JSON.writeValueAsString(INFOTEXT)), GenerationRecord.class);
    }

    private static BufferedImage image() {
        BufferedImage img = new BufferedImage(4, 3, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 3; y++) {
            for (int x = 0; x < 4; x++) {
                img.setRGB(x, y, (x * 60) << 16 | (y * 100) << 8 | 17);
            }
        }
        return img;
    }

    private List<String> names() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void writesThePngWithItsInfotextAndTheRecordAsSidecar() throws IOException {
        Path png = dir.resolve("00001-3 a b.png");
        OutputWriter.Output out = OutputWriter.write(png, image(), record(), CREATED, OutputWriter.Sidecar.JSON);

        assertEquals(List.of("00001-3 a b.json", "00001-3 a b.png"), names(), "the PNG and its sidecar, no temporary file");
        byte[] bytes = Files.readAllBytes(png);
        assertArrayEquals(bytes, out.png(), "the bytes returned are the bytes written");
        assertEquals(png, out.file());
        assertEquals(INFOTEXT, PngImages.readText(png).get(PngImages.PARAMETERS), "A1111 parameters chunk (iTXt: not Latin-1)");
        BufferedImage back = ImageIO.read(png.toFile());
        assertEquals(4, back.getWidth());
        assertEquals(3, back.getHeight());
        assertEquals(image().getRGB(3, 2), back.getRGB(3, 2));

        GenerationRecord r = out.record();
        assertEquals("00001-3 a b.png", r.file(), "the file name, relative to its folder");
        assertEquals(Hashes.sha256(bytes), r.sha256());
        assertEquals("2026-12-07T05:51:22.120Z", r.created(), "ISO-8601 UTC, always three millisecond digits");
        assertEquals(CREATED, Instant.parse(r.created()));
        assertEquals(INFOTEXT, r.infotext());
        assertEquals(18L, r.timings().totalMs(), "stage times kept");
        assertTrue(r.timings().writeMs() != null && r.timings().writeMs() >= 0, "write time set");
        assertEquals(List.of("w"), r.warnings());

        JsonNode side = GenerationRecord.JSON.readTree(dir.resolve("00001-3 a b.json").toFile());
        assertEquals(r, GenerationRecord.JSON.treeToValue(side, GenerationRecord.class), "the sidecar is the returned record");
        assertEquals("rocket \uD83D\uDE80 at night", side.get("prompt").asText());
        assertEquals("2026-12-07T05:51:22.120Z", side.get("created").asText());
        assertEquals(7.5, side.get("cfg_scale").asDouble());
        assertFalse(side.has("key"), "no batch fields outside a batch");
    }

    @Test
    void withoutSidecarOnlyThePngIsWritten() throws IOException {
        Path png = dir.resolve("sub/out.png");
        OutputWriter.Output out = OutputWriter.write(png, image(), record(), CREATED, OutputWriter.Sidecar.NONE);
        try (Stream<Path> s = Files.list(dir.resolve("sub"))) {
            assertEquals(List.of("out.png"), s.map(p -> p.getFileName().toString()).toList(), "missing folder created");
        }
        assertEquals("out.png", out.record().file());
        assertEquals(Hashes.sha256(Files.readAllBytes(png)), out.record().sha256());
    }

    @Test
    void encodeKeepsEverythingInMemory() throws IOException {
        OutputWriter.Output out = OutputWriter.encode(image(), record(), CREATED);
        assertEquals(List.of(), names(), "nothing written");
        assertNull(out.file());
        assertNull(out.record().file());
        assertEquals(Hashes.sha256(out.png()), out.record().sha256());
        assertEquals("2026-12-07T05:51:22.120Z", out.record().created());
        assertEquals(INFOTEXT, PngImages.readText(new ByteArrayInputStream(out.png())).get(PngImages.PARAMETERS));
        // the same bytes as a written file: in memory or on disk, one encoding
        OutputWriter.Output written = OutputWriter.write(dir.resolve("x.png"), image(), record(), CREATED,
                OutputWriter.Sidecar.NONE);
        assertArrayEquals(written.png(), out.png());
    }

    @Test
    void aFailedWriteLeavesNoTemporaryFile() throws IOException {
        // the PNG's name is a folder: nothing is written
        Files.createDirectory(dir.resolve("taken.png"));
        IOException e = assertThrows(IOException.class,
                () -> OutputWriter.write(dir.resolve("taken.png"), image(), record(), CREATED, OutputWriter.Sidecar.JSON));
        assertTrue(e.getMessage().contains("taken.png") && e.getMessage().contains("is a folder"), e.getMessage());
        assertEquals(List.of("taken.png"), names());

        // the sidecar's name is a folder: the PNG stays (complete), the error names the sidecar
        Files.createDirectory(dir.resolve("half.json"));
        e = assertThrows(IOException.class,
                () -> OutputWriter.write(dir.resolve("half.png"), image(), record(), CREATED, OutputWriter.Sidecar.JSON));
        assertTrue(e.getMessage().contains("half.json"), e.getMessage());
        assertEquals(List.of("half.json", "half.png", "taken.png"), names(), "no temporary file");
        assertEquals(INFOTEXT, PngImages.readText(dir.resolve("half.png")).get(PngImages.PARAMETERS));
    }

    @Test
    void aRecordWithoutInfotextIsRefused() throws IOException {
        GenerationRecord none = record().withInfotext(null);
        assertThrows(NullPointerException.class, () -> OutputWriter.encode(image(), none, CREATED));
    }

    @Test
    void otherOutputsAreWrittenAtomically() throws IOException {
        OutputWriter.writeText(dir.resolve("a/t.csv"), "x,y\n1,\u00e9\n");
        assertEquals("x,y\n1,\u00e9\n", Files.readString(dir.resolve("a/t.csv")));
        OutputWriter.writeImage(dir.resolve("a/chart.png"), image());
        assertEquals(image().getRGB(1, 1), ImageIO.read(dir.resolve("a/chart.png").toFile()).getRGB(1, 1));
        assertEquals(List.of(), List.copyOf(PngImages.readText(dir.resolve("a/chart.png")).keySet()), "no text chunks");
        try (Stream<Path> s = Files.list(dir.resolve("a"))) {
            assertEquals(List.of("chart.png", "t.csv"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }

    @Test
    void sidecarNameAndTimeFormat() {
        assertEquals(Path.of("d/x.json"), OutputWriter.sidecarOf(Path.of("d/x.png")));
        assertEquals(Path.of("d/x.json"), OutputWriter.sidecarOf(Path.of("d/x.PNG")));
        assertEquals(Path.of("y.json"), OutputWriter.sidecarOf(Path.of("y")));
        assertEquals("1970-01-01T00:00:00.000Z", OutputWriter.time(Instant.EPOCH));
        assertEquals("2026-12-07T05:51:22.120Z", OutputWriter.time(CREATED.plusNanos(999_999)),
                "cut to milliseconds, not rounded");
    }
}
