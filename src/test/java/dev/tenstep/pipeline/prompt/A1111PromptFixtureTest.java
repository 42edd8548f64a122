package dev.tenstep.pipeline.prompt;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link Emphasis} and {@link PromptSchedule} against AUTOMATIC1111's own parser outputs ({@code a1111-prompts/}). */
class A1111PromptFixtureTest {
    static JsonNode cases() throws IOException {
        return new ObjectMapper().readTree(Fixtures.root().resolve("a1111-prompts/cases.json").toFile());
    }

    @Test
    void everyEmphasisCase() throws IOException {
        JsonNode list = cases().get("attention");
        assertEquals(36, list.size());
        int errors = 0;
        for (JsonNode c : list) {
            String prompt = c.get("prompt").asText();
            JsonNode expected = c.get("expected");
            if (expected.isNull()) {
                PromptSyntaxException e = assertThrows(PromptSyntaxException.class, () -> Emphasis.parse(prompt), prompt);
                assertTrue(e.getMessage().contains("1.2.3"), e.getMessage());
                errors++;
                continue;
            }
            List<Emphasis.Fragment> actual = Emphasis.parse(prompt);
            assertEquals(expected.size(), actual.size(), "fragments of " + prompt + ": " + actual);
            for (int i = 0; i < actual.size(); i++) {
                assertEquals(expected.get(i).get(0).asText(), actual.get(i).text(), prompt + " fragment " + i);
                double w = expected.get(i).get(1).asDouble();
                assertEquals(w, actual.get(i).weight(), Math.abs(w) * 1e-9, prompt + " weight " + i);
                // A1111 multiplies in the same order: the doubles are identical, not just close
                assertEquals(Double.doubleToLongBits(w), Double.doubleToLongBits(actual.get(i).weight() + 0.0),
                        prompt + " weight bits " + i);
            }
        }
        assertEquals(1, errors);
    }

    @Test
    void everyScheduleCase() throws IOException {
        JsonNode list = cases().get("schedules");
        assertEquals(34, list.size());
        for (JsonNode c : list) {
            String prompt = c.get("prompt").asText();
            int steps = c.get("steps").asInt();
            List<PromptSchedule.Entry> actual = PromptSchedule.of(prompt, steps).entries();
            JsonNode expected = c.get("expected");
            assertEquals(expected.size(), actual.size(), prompt + " @" + steps + ": " + actual);
            for (int i = 0; i < actual.size(); i++) {
                assertEquals(expected.get(i).get(0).asLong(), actual.get(i).endAtStep(), prompt + " end " + i);
                assertEquals(expected.get(i).get(1).asText(), actual.get(i).text(), prompt + " text " + i);
            }
        }
    }

    @Test
    void stepLookupIsA1111sFirstEntryEndingAtOrAfterTheStep() {
        PromptSchedule s = PromptSchedule.of("a [dog:cat:0.5] in a field", 10);
        // 0-based sampler steps 0..5 use "dog" (A1111 compares its 0-based step counter with end_at_step 5)
        for (int k = 0; k <= 5; k++) {
            assertEquals("a dog in a field", s.textAt(k), "step " + k);
        }
        for (int k = 6; k < 10; k++) {
            assertEquals("a cat in a field", s.textAt(k), "step " + k);
        }
        PromptSchedule alt = PromptSchedule.of("[red|blue] ball", 4);
        assertEquals(List.of("red ball", "red ball", "blue ball", "red ball"),
                List.of(alt.textAt(0), alt.textAt(1), alt.textAt(2), alt.textAt(3)));
    }

    @Test
    void unparseablePromptIsUsedAsWritten() {
        assertEquals(List.of(new PromptSchedule.Entry(10, "a|b [x:y:2]")), PromptSchedule.of("a|b [x:y:2]", 10).entries());
        assertEquals(List.of(new PromptSchedule.Entry(10, "trailing [x:y:2] \\")),
                PromptSchedule.of("trailing [x:y:2] \\", 10).entries());
    }
}
