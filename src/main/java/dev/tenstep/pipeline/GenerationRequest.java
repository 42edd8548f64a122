package dev.tenstep.pipeline;

import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;

import dev.tenstep.pipeline.prompt.PromptSyntax;
import dev.tenstep.pipeline.prompt.Emphasis;
import dev.tenstep.pipeline.prompt.PromptSchedule;
import dev.tenstep.pipeline.prompt.PromptSyntaxException;
import dev.tenstep.sampling.RngKind;

import java.util.ArrayList;
import java.util.List;

/**
 * A text-to-image request as a client sends it: unset values ({@code null} guidance scale, width, height, schedule,
 * gamma, prompt syntax, clip skip or RNG; seed {@code < 0}) are filled from the model and the sampler preset by
 * {@link TextToImage#resolve}, which validates it into the {@link ResolvedRequest} that a model runs.
 *
 * @param prompt         text prompt (may be empty)
 * @param negativePrompt negative prompt for classifier-free guidance ("" = unconditional)
 * @param steps          number of UNet evaluations N, 1..num_train_timesteps
 * @param cfgScale       classifier-free guidance scale w (diffusers/A1111 convention; 1 = no guidance), 0..100; null =
 *                       the model's default ({@link ModelDefaults#guidanceScale}: 7.5 for SD, measured for the
 *                       built-in models)
 * @param seed           seed of the starting noise and of the per-step noise; negative = random
 * @param sampler        the sampler preset; null = {@link SamplerKind#DEFAULT} (GE)
 * @param schedule       the sigma schedule; null = the sampler's default
 * @param gamma          gradient-estimation weight (1..10), only for a sampler that has one (GE); null = its default
 * @param width          image width in pixels, a multiple of the VAE scale (8 for SD); null = the model's default
 * @param height         image height in pixels; null = the model's default
 * @param promptSyntax   how the prompts are read ({@code a1111} emphasis and editing, or {@code plain}); null = a1111
 * @param clipSkip       text-encoder layers to skip at the end, 1 = none (A1111's "Clip skip"); null = 1
 * @param rng            the generator of the starting noise and the per-step noise; null = {@link RngKind#DEFAULT}
 * @param img2img        start from an init image ({@link Img2Img}); null = text-to-image
 * @param hires          AUTOMATIC1111's hires fix of a text-to-image request ({@link HiresFix}); null = none
 * @param micro          SDXL's size conditioning ({@link MicroConditioning}); null = diffusers' defaults. Models without
 *                       it refuse a request that sets it
 */
public record GenerationRequest(
        String prompt,
        String negativePrompt,
        int steps,
        Double cfgScale,
        long seed,
        SamplerKind sampler,
        ScheduleKind schedule,
        Double gamma,
        Integer width,
        Integer height,
        PromptSyntax promptSyntax,
        Integer clipSkip,
        RngKind rng,
        Img2Img img2img,
        HiresFix hires,
        MicroConditioning micro) {

    public static final int DEFAULT_STEPS = 10;
    public static final double DEFAULT_CFG = 7.5;
    /** Largest width or height any caller may ask for; servers can set a lower limit ({@code serve --max-size}). */
    public static final int MAX_SIZE = 4096;

    /** Largest clip skip accepted in a request (A1111's slider range); a model may allow fewer. */
    public static final int MAX_CLIP_SKIP = 12;

    /** The prompt syntax of a request that sets none: A1111's emphasis and prompt editing. */
    public static final PromptSyntax DEFAULT_SYNTAX = PromptSyntax.A1111;

    /** The clip skip of a request that sets none: 1, the text encoder's last layer. */
    public static final int DEFAULT_CLIP_SKIP = 1;

    /** A request with SDXL's default size conditioning. */
    public GenerationRequest(String prompt, String negativePrompt, int steps, Double cfgScale, long seed,
                             SamplerKind sampler, ScheduleKind schedule, Double gamma, Integer width, Integer height,
                             PromptSyntax promptSyntax, Integer clipSkip, RngKind rng, Img2Img img2img, HiresFix hires) {
        this(prompt, negativePrompt, steps, cfgScale, seed, sampler, schedule, gamma, width, height, promptSyntax,
                clipSkip, rng, img2img, hires, null);
    }

    /** A text-to-image request without hires fix. */
    public GenerationRequest(String prompt, String negativePrompt, int steps, Double cfgScale, long seed,
                             SamplerKind sampler, ScheduleKind schedule, Double gamma, Integer width, Integer height,
                             PromptSyntax promptSyntax, Integer clipSkip, RngKind rng) {
        this(prompt, negativePrompt, steps, cfgScale, seed, sampler, schedule, gamma, width, height, promptSyntax,
                clipSkip, rng, null, null);
    }

    /** As the canonical constructor with the default prompt syntax, clip skip and RNG. */
    public GenerationRequest(String prompt, String negativePrompt, int steps, Double cfgScale, long seed,
                             SamplerKind sampler, ScheduleKind schedule, Double gamma, Integer width, Integer height) {
        this(prompt, negativePrompt, steps, cfgScale, seed, sampler, schedule, gamma, width, height, null, null, null);
    }

    public GenerationRequest {
        prompt = prompt == null ? "" : prompt;
        negativePrompt = negativePrompt == null ? "" : negativePrompt;
        sampler = sampler == null ? SamplerKind.DEFAULT : sampler;
    }

    /** A request with every default: GE sampler, log-linear schedule, 10 steps, the model's CFG, random seed. */
    public static GenerationRequest of(String prompt) {
        return new GenerationRequest(prompt, "", DEFAULT_STEPS, null, -1, SamplerKind.DEFAULT, null, null, null, null);
    }

    public GenerationRequest withSeed(long s) {
        return new GenerationRequest(prompt, negativePrompt, steps, cfgScale, s, sampler, schedule, gamma, width, height,
                promptSyntax, clipSkip, rng, img2img, hires, micro);
    }

    /** This request with another sampler and schedule (null = the sampler's default) and the sampler's own gamma. */
    public GenerationRequest withSampler(SamplerKind samplerKind, ScheduleKind scheduleKind) {
        return new GenerationRequest(prompt, negativePrompt, steps, cfgScale, seed, samplerKind, scheduleKind, null, width, height,
                promptSyntax, clipSkip, rng, img2img, hires, micro);
    }

    public GenerationRequest withSteps(int n) {
        return new GenerationRequest(prompt, negativePrompt, n, cfgScale, seed, sampler, schedule, gamma, width, height,
                promptSyntax, clipSkip, rng, img2img, hires, micro);
    }

    public GenerationRequest withSize(Integer w, Integer h) {
        return new GenerationRequest(prompt, negativePrompt, steps, cfgScale, seed, sampler, schedule, gamma, w, h,
                promptSyntax, clipSkip, rng, img2img, hires, micro);
    }

    /** This request with the given prompt syntax, clip skip and RNG (nulls = defaults). */
    public GenerationRequest withText(PromptSyntax syntax, Integer skip, RngKind generator) {
        return new GenerationRequest(prompt, negativePrompt, steps, cfgScale, seed, sampler, schedule, gamma, width, height,
                syntax, skip, generator, img2img, hires, micro);
    }

    /** This request starting from an init image (null = text-to-image). */
    public GenerationRequest withImg2Img(Img2Img i) {
        return new GenerationRequest(prompt, negativePrompt, steps, cfgScale, seed, sampler, schedule, gamma, width, height,
                promptSyntax, clipSkip, rng, i, hires, micro);
    }

    /** This request with A1111's hires fix (null = none). */
    public GenerationRequest withHires(HiresFix h) {
        return new GenerationRequest(prompt, negativePrompt, steps, cfgScale, seed, sampler, schedule, gamma, width, height,
                promptSyntax, clipSkip, rng, img2img, h, micro);
    }

    /** This request with SDXL's size conditioning (null = the defaults). */
    public GenerationRequest withMicro(MicroConditioning m) {
        return new GenerationRequest(prompt, negativePrompt, steps, cfgScale, seed, sampler, schedule, gamma, width, height,
                promptSyntax, clipSkip, rng, img2img, hires, m);
    }

    /**
     * This request with the model-independent defaults filled (the sampler's schedule and gamma - null for a
     * sampler without one -, prompt syntax
     * {@link #DEFAULT_SYNTAX}, clip skip 1, {@link RngKind#DEFAULT}) and the given seed and size: the last step of
     * a model's {@link TextToImage#resolve}, after it validated the request and chose the size and seed.
     *
     * @param drawnSeed the seed (this request's own when set), &gt;= 0
     * @param w         the image width in pixels (this request's own when set)
     * @param h         the image height in pixels
     * @param defaults  the model's defaults (the guidance scale of a request that sets none)
     */
    public ResolvedRequest resolved(long drawnSeed, int w, int h, ModelDefaults defaults) {
        return new ResolvedRequest(prompt, negativePrompt, steps, cfgScale != null ? cfgScale : defaults.guidanceScale(),
                drawnSeed, sampler,
                schedule != null ? schedule : sampler.defaultSchedule(),
                gamma != null ? gamma : sampler.hasGamma() ? sampler.defaultGamma().getAsDouble() : null, w, h,
                promptSyntax != null ? promptSyntax : DEFAULT_SYNTAX, clipSkip != null ? clipSkip : DEFAULT_CLIP_SKIP,
                rng != null ? rng : RngKind.DEFAULT, img2img != null ? img2img.resolved() : null,
                hires != null ? hires.resolved() : null, micro);
    }

    /**
     * Validation errors (range checks; names were parsed into enums at the edges), each naming the field: empty when the request is valid for a model whose
     * images must be multiples of {@code sizeMultiple} pixels and that was trained on
     * {@code trainTimesteps} steps.
     */
    public List<FieldError> validate(int sizeMultiple, int trainTimesteps) {
        return validate(sizeMultiple, trainTimesteps, MAX_SIZE);
    }

    /**
     * As {@link #validate(int, int)}, with width and height limited to {@code maxSize} pixels
     * (at most {@link #MAX_SIZE}): a server's limit for its model.
     */
    public List<FieldError> validate(int sizeMultiple, int trainTimesteps, int maxSize) {
        int max = Math.min(maxSize, MAX_SIZE);
        List<FieldError> errors = new ArrayList<>();
        if (steps < 1 || steps > trainTimesteps) {
            errors.add(new FieldError("steps", "must be between 1 and " + trainTimesteps + ", got " + steps));
        }
        if (cfgScale != null && (!Double.isFinite(cfgScale) || cfgScale < 0 || cfgScale > 100)) {
            errors.add(new FieldError("cfg_scale", "must be a number between 0 and 100, got " + cfgScale));
        }
        if (gamma != null && (!Double.isFinite(gamma) || gamma < 1 || gamma > 10)) {
            errors.add(new FieldError("gamma", "must be between 1 and 10, got " + gamma));
        } else if (gamma != null && !sampler.hasGamma()) {
            errors.add(new FieldError("gamma", sampler.displayName() + " has no gradient-estimation weight; "
                    + "leave gamma unset (got " + gamma + ")"));
        }
        if (clipSkip != null && (clipSkip < 1 || clipSkip > MAX_CLIP_SKIP)) {
            errors.add(new FieldError("clip_skip", "must be between 1 and " + MAX_CLIP_SKIP + ", got " + clipSkip));
        }
        if (img2img != null) {
            img2img.validate(steps, errors);
            if (hires != null) {
                errors.add(new FieldError("enable_hr", "the hires fix is for text-to-image; an img2img request "
                        + "(init image) cannot have it"));
            }
        }
        if (micro != null) {
            micro.validate(errors);
        }
        checkSize(errors, "width", width, sizeMultiple, max);
        checkSize(errors, "height", height, sizeMultiple, max);
        if ((promptSyntax != null ? promptSyntax : DEFAULT_SYNTAX) == PromptSyntax.A1111) {
            checkSyntax(errors, "prompt", prompt);
            checkSyntax(errors, "negative_prompt", negativePrompt);
        }
        return errors;
    }

    /**
     * A prompt the A1111 syntax cannot read (an emphasis weight such as {@code (x:1.2.3)}) is a
     * request error, found before the request is queued: every text the prompt takes during
     * sampling (prompt editing) is parsed as the text encoder will parse it.
     */
    private void checkSyntax(List<FieldError> errors, String field, String text) {
        if (text == null || text.isEmpty()) {
            return;
        }
        try {
            for (PromptSchedule.Entry e : PromptSchedule.of(text, Math.max(1, steps)).entries()) {
                Emphasis.parse(e.text());
            }
        } catch (PromptSyntaxException ex) {
            String m = ex.getMessage();
            errors.add(new FieldError(field, m.startsWith("prompt: ") ? m.substring("prompt: ".length()) : m));
        }
    }

    private static void checkSize(List<FieldError> errors, String field, Integer v, int multiple, int max) {
        if (v == null) {
            return;
        }
        if (v > max && max < MAX_SIZE) {
            errors.add(new FieldError(field, "must be at most " + max + " for this model, got " + v));
        } else if (v < multiple || v > max) {
            errors.add(new FieldError(field, "must be between " + multiple + " and " + max + " pixels, got " + v));
        } else if (v % multiple != 0) {
            errors.add(new FieldError(field, "must be a multiple of " + multiple + ", got " + v));
        }
    }
}
