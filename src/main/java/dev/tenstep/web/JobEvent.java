package dev.tenstep.web;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonValue;
import dev.tenstep.pipeline.StepProgress;

/**
 * The data of the server-sent events a job emits (docs/web.md lists them), in order: {@link Queued}
 * (again whenever its place changes), {@link Started}, {@link Progress} once per step, then exactly
 * one terminal {@link Result}, {@link Failed} or {@link Cancelled}. Each record serialises (Jackson)
 * to the event's JSON data; {@link #name} is the SSE event name.
 */
public sealed interface JobEvent {
    /** The SSE event name: {@code queued}, {@code started}, {@code progress}, {@code result}, {@code failed} or {@code cancelled}. */
    @JsonIgnore
    String name();

    /** Whether this event ends the job's stream: {@link Result}, {@link Failed} or {@link Cancelled}. */
    @JsonIgnore
    default boolean terminal() {
        return this instanceof Result || this instanceof Failed || this instanceof Cancelled;
    }

    /** @param position 1-based place among the waiting jobs */
    record Queued(int position) implements JobEvent {
        @Override
        public String name() {
            return "queued";
        }
    }

    /**
     * @param total  the job's steps
     * @param width  image width in pixels
     * @param height image height in pixels
     */
    record Started(String id, int total, int width, int height) implements JobEvent {
        @Override
        public String name() {
            return "started";
        }
    }

    /**
     * One finished sampling step.
     *
     * @param step        1-based step just finished
     * @param total       the job's steps
     * @param sigma       noise level of the step
     * @param timestep    the model timestep of the step
     * @param elapsedMs   milliseconds since the generation began
     * @param preview     the step's x0-hat as a PNG data URL, or null (left out) without previews
     * @param previewKind how the preview was made ({@link Job.Preview#label}), or null (left out)
     */
    record Progress(int step, int total, double sigma, double timestep,
                    @JsonProperty("elapsed_ms") long elapsedMs,
                    @JsonInclude(JsonInclude.Include.NON_NULL) String preview,
                    @JsonInclude(JsonInclude.Include.NON_NULL) @JsonProperty("preview_kind") String previewKind)
            implements JobEvent {
        /** The event of {@code p}, with a preview made as {@code kind} ({@code previewUrl} null for none). */
        static Progress of(StepProgress p, String previewUrl, Job.Preview kind) {
            return new Progress(p.step(), p.total(), p.sigma(), p.timestep(), p.elapsedMs(), previewUrl,
                    previewUrl == null ? null : kind.label());
        }

        /** The same event without its image (kept in a job's history once a newer step has one). */
        Progress withoutPreview() {
            return new Progress(step, total, sigma, timestep, elapsedMs, null, previewKind);
        }

        @Override
        public String name() {
            return "progress";
        }
    }

    /** The finished job as {@code GET /api/jobs/{id}} shows it. */
    record Result(@JsonValue JobView job) implements JobEvent {
        @Override
        public String name() {
            return "result";
        }
    }

    /** @param error what went wrong (the message only: no stack trace leaves the server) */
    record Failed(String id, String error) implements JobEvent {
        @Override
        public String name() {
            return "failed";
        }
    }

    /** @param message why: {@code cancelled}, {@code cancelled while waiting} or {@code server shutting down} */
    record Cancelled(String id, String message) implements JobEvent {
        @Override
        public String name() {
            return "cancelled";
        }
    }
}
