package dev.tenstep.batch;

import dev.tenstep.pipeline.GenerationRecord;
import dev.tenstep.pipeline.GenerationRequest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The contact sheet's Thymeleaf template, without a model: rows, cells, failures and escaping. */
class ContactSheetTest {
    @TempDir
    Path tmp;

    private static GenerationRecord record(String file) throws IOException {
        return GenerationRecord.JSON.readValue("""
                {"prompt": "a <b>bold</b> \\"fox\\"", "negative_prompt": "blurry", "steps": 2, "cfg_scale": 7.5,
                 "seed": 5, "sampler": "ge", "sampler_name": "GE", "schedule": "log-linear", "gamma": 2,
                 "width": 64, "height": 32, "infotext": "a <b>bold</b>\\nSteps: 2, Seed: 5", "file": "%s"}
                """.formatted(file), GenerationRecord.class);
    }

    @Test
    void rendersRowsCellsAndFailuresEscaped() throws IOException {
        Path f = Path.of("p.txt");
        GenerationRequest req = new GenerationRequest("a <b>bold</b> \"fox\"", "blurry", 2, 7.5, 5, null, null, null,
                null, null);
        PromptEntry ok = new PromptEntry(f, 1, 0, req, PromptEntry.SeedMode.BASE, null);
        PromptEntry bad = new PromptEntry(f, 2, 1, null, null, "--restore_faces: <unknown> option");
        PromptEntry half = new PromptEntry(f, 3, 2, GenerationRequest.of("second"), PromptEntry.SeedMode.BASE, null);
        List<Variant> vs = Variant.parseList("ge:log-linear,ddim:ddim");
        Map<PromptEntry, List<BatchRunner.Slot>> jobs = new LinkedHashMap<>();
        jobs.put(ok, List.of(new BatchRunner.Slot(ok, vs.get(0), 100, "p.txt:1#ge:log-linear", "a b.png"),
                new BatchRunner.Slot(ok, vs.get(1), 100, "p.txt:1#ddim:ddim", "c.png")));
        jobs.put(half, List.of(new BatchRunner.Slot(half, vs.get(0), 102, "p.txt:3#ge:log-linear", "d.png"),
                new BatchRunner.Slot(half, vs.get(1), 102, "p.txt:3#ddim:ddim", "e.png")));
        ContactSheet sheet = new ContactSheet("tiny & sd", 100, List.of(ok, bad, half), jobs,
                List.of("ge:log-linear", "ddim:ddim"));
        Map<String, GenerationRecord> done = Map.of("p.txt:1#ge:log-linear", record("a b.png"));
        List<BatchRunner.Failure> failures = List.of(new BatchRunner.Failure(bad.location(), null, bad.error()),
                new BatchRunner.Failure(half.location(), "ddim:ddim", "generation failed: <nan>"));

        Path file = tmp.resolve("index.html");
        sheet.write(file, done, failures, false);
        String html = Files.readString(file);
        assertTrue(html.startsWith("<!DOCTYPE html>"), html);
        assertTrue(html.contains("<title>tenstep batch: tiny &amp; sd</title>"), html);
        assertTrue(html.contains("seed base <span>100</span>"), html);
        assertTrue(html.contains("<span>1</span> <span>image</span>,\n<span>2</span> <span>failures</span>"), html);
        assertTrue(html.contains("still running"), "a sheet written while the batch runs says so");
        assertTrue(html.contains("<th>ge:log-linear</th><th>ddim:ddim</th>"), html);
        assertTrue(html.contains("<div>a &lt;b&gt;bold&lt;/b&gt; &quot;fox&quot;</div>"), html);
        assertFalse(html.contains("<b>bold</b>"), "no raw prompt HTML");
        assertTrue(html.contains("<div class=\"src\">negative: blurry</div>"), html);
        assertTrue(html.contains("<a href=\"a%20b.png\"><img src=\"a%20b.png\" loading=\"lazy\" alt=\"a &lt;b&gt;bold&lt;/b&gt; "
                + "&quot;fox&quot;\" title=\"a &lt;b&gt;bold&lt;/b&gt;\nSteps: 2, Seed: 5\" width=\"64\" height=\"32\"></a>"), html);
        assertTrue(html.contains("<div class=\"cap\">seed 5 \u00b7 2 steps \u00b7 cfg 7.5</div>"), html);
        assertTrue(html.contains("<td class=\"err\" colspan=\"2\"><div>--restore_faces: &lt;unknown&gt; option</div></td>"),
                "a failed line spans the columns: " + html);
        assertTrue(html.contains("<div class=\"err\">generation failed: &lt;nan&gt;</div>"), "a failed image: " + html);
        assertEquals(1, html.split("<img ", -1).length - 1, "one finished image, no others");
        assertFalse(java.util.regex.Pattern.compile("\\sth:[a-z]").matcher(html).find(), "no template attributes left");

        sheet.write(file, done, failures, true);
        assertFalse(Files.readString(file).contains("still running"), "the final sheet");
        try (var s = Files.list(tmp)) {
            assertEquals(List.of("index.html"), s.map(p -> p.getFileName().toString()).toList(), "no temporary file");
        }
    }
}
