package dev.tenstep.web;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import dev.tenstep.pipeline.FieldError;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.MicroConditioning;
import dev.tenstep.pipeline.prompt.PromptSyntax;
import dev.tenstep.sampling.RngKind;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;

import java.util.List;
import java.util.function.Function;

/**
 * The generation fields both txt2img bodies have (same names in both APIs), bound by {@link Requests#bind}
 * from the same body as the API's own record ({@link Txt2ImgBody}, {@link A1111Txt2ImgBody}); null: not sent.
 * Unknown fields are ignored.
 */
@JsonIgnoreProperties(ignoreUnknown = true)
record GenerationBody(@JsonDeserialize(using = Requests.Text.class) String prompt,
                      @JsonProperty("negative_prompt") @JsonDeserialize(using = Requests.Text.class) String negativePrompt,
                      @JsonDeserialize(using = Requests.Int32.class) Integer steps,
                      @JsonProperty("cfg_scale") @JsonDeserialize(using = Requests.Decimal.class) Double cfgScale,
                      @JsonDeserialize(using = Requests.Seed.class) Long seed,
                      @JsonDeserialize(using = Requests.Int32.class) Integer width,
                      @JsonDeserialize(using = Requests.Int32.class) Integer height,
                      @JsonDeserialize(using = Requests.Decimal.class) Double gamma,
                      @JsonProperty("prompt_syntax") @JsonDeserialize(using = Requests.Text.class) String promptSyntax,
                      @JsonProperty("clip_skip") @JsonDeserialize(using = Requests.Int32.class) Integer clipSkip,
                      @JsonDeserialize(using = Requests.Text.class) String rng,
                      @JsonProperty(MicroConditioning.ORIGINAL_SIZE) @JsonDeserialize(using = Requests.IntPair.class)
                      int[] originalSize,
                      @JsonProperty(MicroConditioning.CROPS_COORDS_TOP_LEFT) @JsonDeserialize(using = Requests.IntPair.class)
                      int[] cropsCoordsTopLeft,
                      @JsonProperty(MicroConditioning.TARGET_SIZE) @JsonDeserialize(using = Requests.IntPair.class)
                      int[] targetSize) {

    /**
     * A name-valued field as sent, for the fields the two APIs name differently.
     *
     * @param field the field's name in the request (for messages)
     * @param text  what was sent, or null
     */
    record Named(String field, String text) {
        boolean sent() {
            return text != null && !text.isBlank();
        }
    }

    /**
     * The unresolved request (defaults of {@link GenerationRequest#of} where a field was not sent); names that
     * match no sampler, schedule, prompt syntax or RNG are added to {@code errors} naming their field.
     *
     * @param sampler  the sampler field ({@code sampler} or A1111's {@code sampler_name})
     * @param schedule the schedule field ({@code schedule} or A1111's {@code scheduler}); {@code Automatic}
     *                 means the sampler's own default, as in A1111
     * @return the request, meaningful only when {@code errors} stayed empty
     */
    GenerationRequest toRequest(Named sampler, Named schedule, List<FieldError> errors) {
        SamplerKind samplerKind = parse(sampler, SamplerKind::byName, errors);
        ScheduleKind scheduleKind = schedule.sent() && schedule.text().equalsIgnoreCase("automatic") ? null
                : parse(schedule, ScheduleKind::byName, errors);
        PromptSyntax syntax = parse(new Named("prompt_syntax", promptSyntax), PromptSyntax::parse, errors);
        RngKind rngKind = parse(new Named("rng", rng), RngKind::parse, errors);
        return new GenerationRequest(prompt, negativePrompt,
                steps == null ? GenerationRequest.DEFAULT_STEPS : steps,
                cfgScale,
                seed == null ? -1 : seed, samplerKind == null ? SamplerKind.DEFAULT : samplerKind, scheduleKind, gamma,
                width, height, syntax, clipSkip, rngKind).withMicro(micro());
    }

    /**
     * SDXL's size conditioning as sent ({@code original_size} and {@code target_size} as [height, width],
     * {@code crops_coords_top_left} as [top, left], diffusers' names and order), or null when none was sent.
     */
    MicroConditioning micro() {
        return MicroConditioning.of(
                originalSize == null ? null : new MicroConditioning.Size(originalSize[0], originalSize[1]),
                cropsCoordsTopLeft == null ? null : new MicroConditioning.Crop(cropsCoordsTopLeft[0], cropsCoordsTopLeft[1]),
                targetSize == null ? null : new MicroConditioning.Size(targetSize[0], targetSize[1]));
    }

    /** The value a name denotes, or null when not sent or unknown (then added to {@code errors}). */
    private static <T> T parse(Named n, Function<String, T> byName, List<FieldError> errors) {
        if (!n.sent()) {
            return null;
        }
        try {
            return byName.apply(n.text());
        } catch (IllegalArgumentException e) {
            errors.add(new FieldError(n.field(), e.getMessage()));
            return null;
        }
    }
}
