package dev.tenstep.batch;

import dev.tenstep.batch.GenerationOptions;
import dev.tenstep.pipeline.GenerationRequest;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PromptFileTest {
    private static final Path FILE = Path.of("prompts", "test.txt");

    private static GenerationOptions defaults() {
        GenerationOptions d = new GenerationOptions();
        d.steps = 4;
        d.cfgScale = 5.0;
        d.negativePrompt = "blurry";
        d.width = 64;
        d.height = 64;
        return d;
    }

    private static PromptEntry line(String text) {
        return PromptFile.parseLine(FILE, 7, 3, text, defaults());
    }

    @Test
    void shellWordsQuotesAndEscapes() {
        assertEquals(List.of("--prompt", "a cat", "--steps", "5"), ShellWords.split("--prompt \"a cat\"  --steps 5"));
        assertEquals(List.of("it's", "a \"b\" \\c"), ShellWords.split("it\\'s \"a \\\"b\\\" \\\\c\""));
        assertEquals(List.of("single $x \\n \"q\""), ShellWords.split("'single $x \\n \"q\"'"));
        assertEquals(List.of("ab cd"), ShellWords.split("a\"b c\"d"));
        assertEquals(List.of("--negative_prompt", ""), ShellWords.split("--negative_prompt \"\""));
        assertEquals(List.of("a\\nb"), ShellWords.split("\"a\\nb\""), "backslash kept before a non-special char in double quotes");
        assertEquals(List.of("#not", "a", "comment"), ShellWords.split("#not a comment"));
        assertEquals(List.of(), ShellWords.split("   "));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ShellWords.split("--prompt \"open"))
                .getMessage().contains("unterminated double quote at column 10"));
        assertThrows(IllegalArgumentException.class, () -> ShellWords.split("'open"));
        assertThrows(IllegalArgumentException.class, () -> ShellWords.split("end\\"));
    }

    @Test
    void plainLineIsAPromptWithTheBatchDefaults() {
        PromptEntry e = line("a watercolor of a fox, --steps 99 is not an option here");
        assertTrue(e.ok());
        GenerationRequest r = e.request();
        assertEquals("a watercolor of a fox, --steps 99 is not an option here", r.prompt());
        assertEquals("blurry", r.negativePrompt());
        assertEquals(4, r.steps());
        assertEquals(5.0, r.cfgScale());
        assertEquals(64, r.width());
        assertFalse(e.seedSet());
        assertEquals(3, e.index());
        assertEquals("prompts/test.txt:7", e.location());
    }

    @Test
    void optionLineWithA1111SnakeCaseAliases() {
        PromptEntry e = line("--prompt \"a \\\"red\\\" barn, at dusk\" --negative_prompt 'low quality' --steps 12 "
                + "--cfg_scale 6.5 --seed 5 --sampler_name DDIM --width 32 --height 48");
        assertNull(e.error());
        GenerationRequest r = e.request();
        assertEquals("a \"red\" barn, at dusk", r.prompt());
        assertEquals("low quality", r.negativePrompt());
        assertEquals(12, r.steps());
        assertEquals(6.5, r.cfgScale());
        assertEquals(5, r.seed());
        assertTrue(e.seedSet());
        assertEquals(dev.tenstep.sampling.SamplerKind.DDIM, r.sampler());
        assertEquals(32, r.width());
        assertEquals(48, r.height());
    }

    @Test
    void optionLineKeepsDefaultsForWhatItDoesNotSet() {
        PromptEntry e = line("--prompt castle --schedule karras --gamma 1.5");
        GenerationRequest r = e.request();
        assertEquals("castle", r.prompt());
        assertEquals("blurry", r.negativePrompt(), "batch default");
        assertEquals(4, r.steps(), "batch default, not the mixin's annotation default");
        assertEquals(dev.tenstep.sampling.ScheduleKind.KARRAS, r.schedule());
        assertEquals(1.5, r.gamma());
        assertEquals(64, r.width());
        assertFalse(e.seedSet());
        assertEquals(PromptEntry.SeedMode.BASE, e.seedMode(), "no --seed: base + index");
    }

    @Test
    void negativeSeedOnALineMeansRandomAsInGenerate() {
        for (String seed : List.of("-1", "-5")) {
            PromptEntry e = line("--prompt x --seed " + seed);
            assertTrue(e.ok(), e.message());
            assertEquals(PromptEntry.SeedMode.RANDOM, e.seedMode(), seed);
            assertTrue(e.randomSeed());
            assertFalse(e.seedSet(), "not a fixed seed");
        }
        assertEquals(PromptEntry.SeedMode.FIXED, line("--prompt x --seed 0").seedMode());
        GenerationOptions randomBase = defaults();
        randomBase.seed = -1;
        assertEquals(PromptEntry.SeedMode.BASE, PromptFile.parseLine(FILE, 1, 0, "--prompt x", randomBase).seedMode(),
                "a negative batch seed is a random base, not a random line seed");
    }

    @Test
    void kebabCaseNamesWorkToo() {
        GenerationRequest r = line("--prompt x --negative-prompt y --cfg-scale 3 --sampler ge -W 16 -H 16").request();
        assertEquals("y", r.negativePrompt());
        assertEquals(3.0, r.cfgScale());
        assertEquals(16, r.width());
    }

    /**
     * SDXL's size options on a prompt line: sizes width first ({@code WxH}, as {@code --width}/{@code --height} and
     * A1111's {@code Size}), the crop top first; the request holds them in diffusers' (height, width) components.
     */
    @Test
    void sizeConditioningOnALineIsWidthFirst() {
        GenerationRequest r = line("--prompt x --original_size 768x1024 --crop_top_left 48,16 --target-size 640x512")
                .request();
        assertEquals(new dev.tenstep.pipeline.MicroConditioning.Size(1024, 768), r.micro().originalSize());
        assertEquals(new dev.tenstep.pipeline.MicroConditioning.Crop(48, 16), r.micro().cropTopLeft());
        assertEquals(512, r.micro().targetSize().height());
        assertEquals(640, r.micro().targetSize().width());
        assertEquals("768x1024", r.micro().originalSize().toString(), "the text form reads back as written");
        PromptEntry bad = line("--prompt x --original-size 1024,768");
        assertFalse(bad.ok());
        assertTrue(bad.message().contains("--original-size: must be WxH (width x height in pixels, e.g. 768x1024), got "
                + "'1024,768'"), bad.message());
    }

    @Test
    void unknownOptionNamesFileAndLine() {
        PromptEntry e = line("--prompt x --restore_faces true");
        assertFalse(e.ok());
        assertTrue(e.message().startsWith("prompts/test.txt:7: "), e.message());
        assertTrue(e.message().contains("--restore_faces"), e.message());
    }

    @Test
    void badValuesNameFileLineAndReason() {
        String steps = line("--prompt x --steps many").message();
        assertTrue(steps.startsWith("prompts/test.txt:7: ") && steps.contains("--steps") && steps.contains("many"), steps);
        String sampler = line("--prompt x --sampler_name heun").message();
        assertTrue(sampler.contains("unknown sampler 'heun'"), sampler);
        // the model's size multiple is checked when the line is generated; the file check is model-free
        String width = line("--prompt x --width 0").message();
        assertTrue(width.contains("--width: must be between 1 and 4096 pixels, got 0"), width);
        String quote = line("--prompt \"open").message();
        assertTrue(quote.startsWith("prompts/test.txt:7: bad quoting: unterminated double quote"), quote);
        String stray = line("--steps 5 a cat").message();
        assertTrue(stray.contains("'a'"), stray);
    }

    @Test
    void fileSkipsCommentsAndBlankLinesAndNumbersLines() {
        List<String> lines = List.of("\uFEFF# header", "", "first prompt", "   # indented comment", "  ",
                "--prompt second --seed 9", "--bogus", "third");
        List<PromptEntry> es = PromptFile.parse(FILE, lines, defaults(), 10);
        assertEquals(4, es.size());
        assertEquals(List.of(3, 6, 7, 8), es.stream().map(PromptEntry::line).toList());
        assertEquals(List.of(10, 11, 12, 13), es.stream().map(PromptEntry::index).toList());
        assertEquals("first prompt", es.get(0).request().prompt());
        assertEquals(9, es.get(1).request().seed());
        assertTrue(es.get(2).message().startsWith("prompts/test.txt:7: "));
        assertEquals("third", es.get(3).request().prompt());
    }

    @Test
    void compareListParsing() {
        List<Variant> vs = Variant.parseList("ddim:ddim, ge:log-linear,ge:log-linear:2.5,ddpm");
        assertEquals(List.of("ddim:ddim", "ge:log-linear", "ge:log-linear:2.5", "ddpm:trailing"),
                vs.stream().map(Variant::label).toList());
        assertEquals("ge-log-linear-2.5", vs.get(2).slug());
        assertThrows(IllegalArgumentException.class, () -> Variant.parseList("heun:ddim"));
        assertThrows(IllegalArgumentException.class, () -> Variant.parseList("ge:cosine"));
        assertThrows(IllegalArgumentException.class, () -> Variant.parseList("ge,ge:log-linear"));
    }
}
