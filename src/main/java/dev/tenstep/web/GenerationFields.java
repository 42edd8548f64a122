package dev.tenstep.web;

import dev.tenstep.pipeline.FieldError;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.prompt.PromptSyntax;
import dev.tenstep.sampling.RngKind;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;

import java.util.List;

/**
 * The generation fields both txt2img bodies have ({@link Txt2ImgBody}, {@link A1111Txt2ImgBody}), as bound
 * (null: not sent), and their conversion to a {@link GenerationRequest}. The two APIs name the sampler and
 * schedule fields differently ({@link #samplerField}, {@link #scheduleField}).
 */
interface GenerationFields {
    String prompt();

    String negativePrompt();

    Integer steps();

    Double cfgScale();

    Long seed();

    Integer width();

    Integer height();

    Double gamma();

    String promptSyntax();

    Integer clipSkip();

    String rng();

    /** The name of the field the sampler was given in (for messages). */
    String samplerField();

    /** The sampler's name as sent, or null. */
    String samplerText();

    /** The name of the schedule field. */
    String scheduleField();

    /** The schedule's name as sent, or null. */
    String scheduleText();

    /**
     * The unresolved request (defaults of {@link GenerationRequest#of} where a field was not sent); names that
     * match no sampler, schedule, prompt syntax or RNG are added to {@code errors} naming their field.
     *
     * @return the request, meaningful only when {@code errors} stayed empty
     */
    default GenerationRequest toRequest(List<FieldError> errors) {
        SamplerKind sampler = SamplerKind.DEFAULT;
        if (!blank(samplerText())) {
            try {
                sampler = SamplerKind.byName(samplerText());
            } catch (IllegalArgumentException e) {
                errors.add(new FieldError(samplerField(), e.getMessage()));
            }
        }
        ScheduleKind schedule = null;
        // A1111's "Automatic" scheduler means the sampler's own default
        if (!blank(scheduleText()) && !scheduleText().equalsIgnoreCase("automatic")) {
            try {
                schedule = ScheduleKind.byName(scheduleText());
            } catch (IllegalArgumentException e) {
                errors.add(new FieldError(scheduleField(), e.getMessage()));
            }
        }
        PromptSyntax syntax = null;
        if (!blank(promptSyntax())) {
            try {
                syntax = PromptSyntax.parse(promptSyntax());
            } catch (IllegalArgumentException e) {
                errors.add(new FieldError("prompt_syntax", e.getMessage()));
            }
        }
        RngKind rngKind = null;
        if (!blank(rng())) {
            try {
                rngKind = RngKind.parse(rng());
            } catch (IllegalArgumentException e) {
                errors.add(new FieldError("rng", e.getMessage()));
            }
        }
        return new GenerationRequest(prompt(), negativePrompt(),
                steps() == null ? GenerationRequest.DEFAULT_STEPS : steps(),
                cfgScale() == null ? GenerationRequest.DEFAULT_CFG : cfgScale(),
                seed() == null ? -1 : seed(), sampler, schedule, gamma(), width(), height(), syntax, clipSkip(), rngKind);
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }
}
