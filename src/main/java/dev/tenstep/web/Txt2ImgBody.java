package dev.tenstep.web;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import dev.tenstep.pipeline.FieldError;

import java.util.List;

/**
 * The fields of {@code POST /api/txt2img} (docs/web.md) beyond the shared {@link GenerationBody}, bound by
 * {@link Requests#bind} from the same body: every field is optional (null: not sent); others are ignored.
 *
 * @param sampler  the sampler's id or name ({@link dev.tenstep.sampling.SamplerKind#byName})
 * @param schedule the schedule's id ({@link dev.tenstep.sampling.ScheduleKind#byName})
 * @param preview  how step previews are made: {@code approx} (default), {@code vae} or {@code none}
 */
@JsonIgnoreProperties(ignoreUnknown = true)
record Txt2ImgBody(@JsonDeserialize(using = Requests.Text.class) String sampler,
                   @JsonDeserialize(using = Requests.Text.class) String schedule,
                   @JsonDeserialize(using = Requests.Text.class) String preview) {

    /** The sampler field as {@link GenerationBody#toRequest} takes it. */
    GenerationBody.Named samplerField() {
        return new GenerationBody.Named("sampler", sampler);
    }

    /** The schedule field as {@link GenerationBody#toRequest} takes it. */
    GenerationBody.Named scheduleField() {
        return new GenerationBody.Named("schedule", schedule);
    }

    /** The preview mode; a name that is none of them is added to {@code errors}. */
    Job.Preview previewMode(List<FieldError> errors) {
        Job.Preview p = Job.Preview.parse(preview);
        if (p == null) {
            errors.add(new FieldError("preview", "must be \"approx\", \"vae\" or \"none\""));
            return Job.Preview.APPROX;
        }
        return p;
    }
}
