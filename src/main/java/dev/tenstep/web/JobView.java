package dev.tenstep.web;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tenstep.pipeline.GenerationRecord;

/**
 * The JSON shape of a job ({@code GET /api/jobs/{id}}, {@code POST /api/txt2img}, the {@code result} event).
 *
 * @param status   {@link Job.Status#label}
 * @param position 1-based place among the waiting jobs; 0 when running or ended
 * @param step     the last finished step (0 before the first)
 * @param total    the job's steps
 * @param model    the model it runs on
 * @param events   URL of its event stream
 * @param request  the record of the resolved request
 * @param error    why it failed; left out otherwise
 * @param result   once done: the stored image's record plus its links ({@code image} URL, {@code file},
 *                 {@code infotext}, result {@code page}, {@code reuse} form); left out before
 */
public record JobView(String id, String status, int position, int step, int total, String model, String events,
                      GenerationRecord request,
                      @JsonInclude(JsonInclude.Include.NON_NULL) String error,
                      @JsonInclude(JsonInclude.Include.NON_NULL) ObjectNode result) {
}
