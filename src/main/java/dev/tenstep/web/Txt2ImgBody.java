package dev.tenstep.web;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import dev.tenstep.pipeline.FieldError;

import java.util.List;

/**
 * The body of {@code POST /api/txt2img} (docs/web.md), bound by {@link Requests#bind}: every field is
 * optional (null: not sent); unknown fields are ignored.
 *
 * @param sampler  the sampler's id or name ({@link dev.tenstep.sampling.SamplerKind#byName})
 * @param schedule the schedule's id ({@link dev.tenstep.sampling.ScheduleKind#byName})
 * @param preview  how step previews are made: {@code approx} (default), {@code vae} or {@code none}
 */
@JsonIgnoreProperties(ignoreUnknown = true)
record Txt2ImgBody(@JsonDeserialize(using = Requests.Text.class) String prompt,
                   @JsonProperty("negative_prompt") @JsonDeserialize(using = Requests.Text.class) String negativePrompt,
                   @JsonDeserialize(using = Requests.Int32.class) Integer steps,
                   @JsonProperty("cfg_scale") @JsonDeserialize(using = Requests.Decimal.class) Double cfgScale,
                   @JsonDeserialize(using = Requests.Seed.class) Long seed,
                   @JsonDeserialize(using = Requests.Int32.class) Integer width,
                   @JsonDeserialize(using = Requests.Int32.class) Integer height,
                   @JsonDeserialize(using = Requests.Decimal.class) Double gamma,
                   @JsonDeserialize(using = Requests.Text.class) String sampler,
                   @JsonDeserialize(using = Requests.Text.class) String schedule,
                   @JsonProperty("prompt_syntax") @JsonDeserialize(using = Requests.Text.class) String promptSyntax,
                   @JsonProperty("clip_skip") @JsonDeserialize(using = Requests.Int32.class) Integer clipSkip,
                   @JsonDeserialize(using = Requests.Text.class) String rng,
                   @JsonDeserialize(using = Requests.Text.class) String preview) implements GenerationFields {

    @Override
    public String samplerField() {
        return "sampler";
    }

    @Override
    public String samplerText() {
        return sampler;
    }

    @Override
    public String scheduleField() {
        return "schedule";
    }

    @Override
    public String scheduleText() {
        return schedule;
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
