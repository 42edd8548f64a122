package dev.tenstep.batch;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** COCO captions files as prompt entries: which captions, in which order, under which names. */
class CaptionsFileTest {
    @TempDir
    Path tmp;

    /** Three images, their annotations interleaved as in COCO's files; image 5 has three captions. */
    private Path coco() throws IOException {
        Path f = tmp.resolve("captions_val.json");
        Files.writeString(f, """
                {"info": {}, "images": [{"id": 5}, {"id": 8}, {"id": 2}],
                 "annotations": [
                  {"image_id": 5, "id": 10, "caption": "five a"},
                  {"image_id": 8, "id": 11, "caption": "eight a"},
                  {"image_id": 5, "id": 12, "caption": "  five b\\n"},
                  {"image_id": 2, "id": 13, "caption": "two a"},
                  {"image_id": 8, "id": 14, "caption": "eight b"},
                  {"image_id": 5, "id": 15, "caption": "(five) --c"}
                 ]}""");
        return f;
    }

    private static List<String> prompts(List<PromptEntry> es) {
        return es.stream().map(e -> e.request().prompt()).toList();
    }

    private static List<Integer> lines(List<PromptEntry> es) {
        return es.stream().map(PromptEntry::line).toList();
    }

    @Test
    void firstLastAndAllGoImageByImageInOrderOfFirstAppearance() throws IOException {
        Path f = coco();
        GenerationOptions d = new GenerationOptions();
        List<PromptEntry> first = CaptionsFile.read(f, CaptionsFile.PerImage.FIRST, null, d, 0);
        assertEquals(List.of("five a", "eight a", "two a"), prompts(first));
        assertEquals(List.of(1, 2, 4), lines(first), "an entry's line is its annotation's 1-based position");
        assertEquals(List.of(0, 1, 2), first.stream().map(PromptEntry::index).toList());

        List<PromptEntry> last = CaptionsFile.read(f, CaptionsFile.PerImage.LAST, null, d, 0);
        assertEquals(List.of("(five) --c", "eight b", "two a"), prompts(last), "literal text, even --c");
        assertEquals(List.of(6, 5, 4), lines(last));

        List<PromptEntry> all = CaptionsFile.read(f, CaptionsFile.PerImage.ALL, null, d, 3);
        assertEquals(List.of("five a", "five b", "(five) --c", "eight a", "eight b", "two a"), prompts(all),
                "every caption of an image together, trimmed, line breaks gone");
        assertEquals(List.of(3, 4, 5, 6, 7, 8), all.stream().map(PromptEntry::index).toList(), "indices from firstIndex");
        assertEquals(f + ":3", all.get(1).location());
        assertTrue(all.stream().allMatch(e -> e.request().promptSyntax() == dev.tenstep.pipeline.prompt.PromptSyntax.PLAIN),
                "captions are plain text");
    }

    @Test
    void limitKeepsTheFirstChosenAndOptionsComeFromTheDefaults() throws IOException {
        GenerationOptions d = new GenerationOptions();
        d.steps = 4;
        d.promptSyntax = "a1111";
        List<PromptEntry> es = CaptionsFile.read(coco(), CaptionsFile.PerImage.ALL, 4, d, 0);
        assertEquals(List.of("five a", "five b", "(five) --c", "eight a"), prompts(es));
        assertEquals(4, es.get(0).request().steps());
        assertEquals(dev.tenstep.pipeline.prompt.PromptSyntax.A1111, es.get(0).request().promptSyntax(),
                "an explicit --prompt-syntax applies to captions");
        assertEquals(2, CaptionsFile.read(coco(), CaptionsFile.PerImage.FIRST, 2, d, 0).size());
        assertEquals(3, CaptionsFile.read(coco(), CaptionsFile.PerImage.FIRST, 30000, d, 0).size());
        assertThrows(IllegalArgumentException.class, () -> CaptionsFile.read(coco(), CaptionsFile.PerImage.FIRST, 0, d, 0));
    }

    @Test
    void badFilesAreNamedAndEmptyCaptionsAreBadEntries() throws IOException {
        GenerationOptions d = new GenerationOptions();
        Path f = tmp.resolve("c.json");
        Files.writeString(f, "{\"images\": []}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CaptionsFile.read(f, CaptionsFile.PerImage.FIRST, null, d, 0));
        assertTrue(e.getMessage().startsWith(f + ": no \"annotations\" array"), e.getMessage());
        Files.writeString(f, "{\"annotations\": [{\"caption\": \"x\"}]}");
        e = assertThrows(IllegalArgumentException.class, () -> CaptionsFile.read(f, CaptionsFile.PerImage.FIRST, null, d, 0));
        assertEquals(f + ": annotations[0] has no image_id", e.getMessage());
        Files.writeString(f, "not json");
        e = assertThrows(IllegalArgumentException.class, () -> CaptionsFile.read(f, CaptionsFile.PerImage.FIRST, null, d, 0));
        assertTrue(e.getMessage().startsWith(f + ": not JSON"), e.getMessage());

        Files.writeString(f, "{\"annotations\": [{\"image_id\": 1, \"caption\": \" \\n \"}, {\"image_id\": 2, \"caption\": \"ok\"}]}");
        List<PromptEntry> es = CaptionsFile.read(f, CaptionsFile.PerImage.FIRST, null, d, 0);
        assertFalse(es.get(0).ok());
        assertEquals(f + ":1: empty caption", es.get(0).message());
        assertEquals("ok", es.get(1).request().prompt());

        assertEquals(CaptionsFile.PerImage.LAST, CaptionsFile.PerImage.parse("Last"));
        assertEquals("'some' is not first, last or all",
                assertThrows(IllegalArgumentException.class, () -> CaptionsFile.PerImage.parse("some")).getMessage());
    }
}
