package dev.tenstep.pipeline;

import dev.tenstep.pipeline.prompt.PromptSyntax;
import dev.tenstep.sampling.RngKind;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;

import java.util.Objects;

/**
 * A request as a model runs it: validated against that model ({@link TextToImage#resolve}) with every default
 * filled, the seed drawn and the schedule and gamma chosen. Immutable; the one input of
 * {@link TextToImage#generate(ResolvedRequest, TextToImage.PromptEmbedding, TextToImage.Options)}, of the
 * infotext and of the {@link GenerationRecord}. The unresolved form, with its unset fields, is
 * {@link GenerationRequest}.
 *
 * @param prompt         text prompt (may be empty)
 * @param negativePrompt negative prompt for classifier-free guidance ("" = unconditional)
 * @param steps          number of model evaluations N, at least 1
 * @param cfgScale       classifier-free guidance scale w (diffusers/A1111 convention; 1 = no guidance)
 * @param seed           seed of the starting noise and of the per-step noise, &gt;= 0
 * @param sampler        the sampler preset
 * @param schedule       the sigma schedule
 * @param gamma          the gradient-estimation weight used (the sampler's preset unless the request set one); null
 *                       for a sampler without gamma (only GE has one)
 * @param width          image width in pixels
 * @param height         image height in pixels
 * @param promptSyntax   how the prompts are read
 * @param clipSkip       text-encoder layers skipped at the end, 1 = none (A1111's "Clip skip")
 * @param rng            the generator of the starting noise and the per-step noise
 * @param img2img        the init image, strength and step rule ({@link Img2Img#resolved}), or null (text-to-image)
 * @param hires          the hires fix ({@link HiresFix#resolved}), or null
 * @param micro          SDXL's size conditioning as the request set it, or null (diffusers' defaults: {@link
 *                       MicroConditioning#timeIds}); only an SDXL model resolves a request with it
 */
public record ResolvedRequest(
        String prompt,
        String negativePrompt,
        int steps,
        double cfgScale,
        long seed,
        SamplerKind sampler,
        ScheduleKind schedule,
        Double gamma,
        int width,
        int height,
        PromptSyntax promptSyntax,
        int clipSkip,
        RngKind rng,
        Img2Img img2img,
        HiresFix hires,
        MicroConditioning micro) {

    /**
     * @throws NullPointerException     if a text or a kind is null
     * @throws IllegalArgumentException if the seed is negative, steps, size or clip skip are below 1, or a gamma is
     *                                  given to a sampler without one or a GE request has none (the model's limits
     *                                  are checked by its {@link TextToImage#resolve})
     */
    public ResolvedRequest {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(negativePrompt, "negativePrompt");
        Objects.requireNonNull(sampler, "sampler");
        Objects.requireNonNull(schedule, "schedule");
        Objects.requireNonNull(promptSyntax, "promptSyntax");
        Objects.requireNonNull(rng, "rng");
        if (seed < 0 || steps < 1 || width < 1 || height < 1 || clipSkip < 1) {
            throw new IllegalArgumentException("a resolved request needs seed >= 0 and steps, width, height and "
                    + "clip skip >= 1, got seed " + seed + ", steps " + steps + ", " + width + "x" + height
                    + ", clip skip " + clipSkip);
        }
        if ((gamma != null) != sampler.hasGamma()) {
            throw new IllegalArgumentException(sampler.hasGamma()
                    ? sampler.displayName() + " needs a resolved gamma"
                    : sampler.displayName() + " has no gradient-estimation weight gamma (got " + gamma + ")");
        }
    }

    /** A request with SDXL's default size conditioning. */
    public ResolvedRequest(String prompt, String negativePrompt, int steps, double cfgScale, long seed,
                           SamplerKind sampler, ScheduleKind schedule, Double gamma, int width, int height,
                           PromptSyntax promptSyntax, int clipSkip, RngKind rng, Img2Img img2img, HiresFix hires) {
        this(prompt, negativePrompt, steps, cfgScale, seed, sampler, schedule, gamma, width, height, promptSyntax,
                clipSkip, rng, img2img, hires, null);
    }

    /** A text-to-image request without hires fix. */
    public ResolvedRequest(String prompt, String negativePrompt, int steps, double cfgScale, long seed,
                           SamplerKind sampler, ScheduleKind schedule, Double gamma, int width, int height,
                           PromptSyntax promptSyntax, int clipSkip, RngKind rng) {
        this(prompt, negativePrompt, steps, cfgScale, seed, sampler, schedule, gamma, width, height, promptSyntax,
                clipSkip, rng, null, null);
    }

    /**
     * The model evaluations of the whole generation: {@code steps} for text-to-image, the steps the strength runs for
     * img2img ({@link Img2Img#span}), plus the second pass's of a hires fix.
     */
    public int stepsRun() {
        int first = img2img != null ? img2img.span(steps).steps() : steps;
        return first + (hires != null ? hires.passSteps(steps) : 0);
    }

    /** The final image width: the hires size with a hires fix, else {@link #width}. */
    public int outputWidth() {
        return hires != null ? hires.target(width, height).width() : width;
    }

    /** The final image height: the hires size with a hires fix, else {@link #height}. */
    public int outputHeight() {
        return hires != null ? hires.target(width, height).height() : height;
    }

    /** This request with another seed (e.g. the n-th image of an A1111 batch: seed + n). */
    public ResolvedRequest withSeed(long s) {
        return new ResolvedRequest(prompt, negativePrompt, steps, cfgScale, s, sampler, schedule, gamma, width, height,
                promptSyntax, clipSkip, rng, img2img, hires, micro);
    }

    /** SDXL's {@code time_ids} of this request: its micro-conditioning, defaults filled from its size. */
    public float[] timeIds() {
        return MicroConditioning.timeIds(micro, height, width);
    }

    /** Whether the gamma differs from the sampler's preset (then the infotext and batch labels name it). */
    public boolean customGamma() {
        return gamma != null && (sampler.defaultGamma().isEmpty() || gamma != sampler.defaultGamma().getAsDouble());
    }

    /** This request as an unresolved one with every field set: resolving it again gives the same request. */
    public GenerationRequest unresolved() {
        return new GenerationRequest(prompt, negativePrompt, steps, cfgScale, seed, sampler, schedule, gamma, width, height,
                promptSyntax, clipSkip, rng, img2img, hires, micro);
    }
}
