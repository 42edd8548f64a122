package dev.tenstep.web;

import dev.tenstep.pipeline.ModelDefaults;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.pipeline.GenerationRequest;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The SSE event records: their JSON data (field names, left-out previews) and how a job keeps its history. */
class JobEventTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void eventsSerialiseToTheirDocumentedFields() {
        assertEquals("{\"position\":2}", JSON.valueToTree(new JobEvent.Queued(2)).toString());
        assertEquals("{\"id\":\"j1\",\"total\":10,\"width\":64,\"height\":48}",
                JSON.valueToTree(new JobEvent.Started("j1", 10, 64, 48)).toString());
        assertEquals("{\"id\":\"j1\",\"error\":\"generation failed: boom\"}",
                JSON.valueToTree(new JobEvent.Failed("j1", "generation failed: boom")).toString());
        assertEquals("{\"id\":\"j1\",\"message\":\"cancelled\"}",
                JSON.valueToTree(new JobEvent.Cancelled("j1", "cancelled")).toString());
        JsonNode plain = JSON.valueToTree(new JobEvent.Progress(3, 10, 1.5, 999.0, 42, null, null));
        assertEquals("{\"step\":3,\"total\":10,\"sigma\":1.5,\"timestep\":999.0,\"elapsed_ms\":42}", plain.toString(),
                "no preview: the preview fields are left out");
        JsonNode withPreview = JSON.valueToTree(new JobEvent.Progress(3, 10, 1.5, 999.0, 42, "data:x", "vae"));
        assertEquals("data:x", withPreview.get("preview").asText());
        assertEquals("vae", withPreview.get("preview_kind").asText());
        assertEquals(List.of("progress", "queued", "started", "failed", "cancelled", "result"),
                List.of(new JobEvent.Progress(1, 1, 0, 0, 0, null, null).name(), new JobEvent.Queued(1).name(),
                        new JobEvent.Started("j", 1, 8, 8).name(), new JobEvent.Failed("j", "e").name(),
                        new JobEvent.Cancelled("j", "m").name(), new JobEvent.Result(null).name()));
        assertTrue(new JobEvent.Cancelled("j", "m").terminal() && new JobEvent.Failed("j", "e").terminal());
        assertFalse(new JobEvent.Progress(1, 1, 0, 0, 0, null, null).terminal() || new JobEvent.Queued(1).terminal());
    }

    @Test
    void aJobKeepsOnlyTheNewestPreviewInItsHistory() {
        Job job = new Job("j1", GenerationRequest.of("x").resolved(1, 8, 8, ModelDefaults.SD), Job.Preview.APPROX, null, true);
        job.emit(new JobEvent.Progress(1, 3, 2.0, 900, 10, "data:one", "approx"));
        job.emit(new JobEvent.Progress(2, 3, 1.0, 500, 20, "data:two", "approx"));
        job.emit(new JobEvent.Cancelled("j1", "cancelled"));
        List<Job.Event> history = new ArrayList<>();
        job.subscribe(history::add);
        assertEquals(List.of("progress", "progress", "cancelled"), history.stream().map(Job.Event::name).toList());
        JobEvent.Progress first = (JobEvent.Progress) history.get(0).data();
        assertNull(first.preview(), "an older step's image is dropped");
        assertEquals("approx", first.previewKind());
        assertEquals(1, first.step());
        assertEquals("data:two", ((JobEvent.Progress) history.get(1).data()).preview());
        assertTrue(history.get(2).terminal());
    }
}
