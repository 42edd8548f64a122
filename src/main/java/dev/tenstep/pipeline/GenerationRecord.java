package dev.tenstep.pipeline;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import com.fasterxml.jackson.databind.json.JsonMapper;

import dev.tenstep.pipeline.prompt.PromptSyntax;
import dev.tenstep.sampling.RngKind;

import java.util.List;
import java.util.Objects;

/**
 * The one description of a generation, written by every adapter in the same snake_case JSON layout:
 * the web sidecar ({@code <image>.json}), the job JSON ({@code request} and {@code result}),
 * each line of a batch's {@code manifest.jsonl}, and (mapped to A1111's keys) the A1111 API's
 * {@code info}. Fields that do not apply are {@code null} and left out of the JSON: a record made
 * from a request alone ({@link #ofRequest}) has only the generation parameters; a stored image adds
 * its file, hash and time; a batch adds its cell ({@code key}, {@code source}, ...).
 *
 * @param prompt         prompt
 * @param negativePrompt negative prompt ("" = unconditional)
 * @param steps          number of model evaluations N
 * @param cfgScale       classifier-free guidance scale w
 * @param seed           seed of the starting noise and per-step noise (resolved, never -1)
 * @param sampler        sampler id ({@code ddim}, {@code ge}, ...)
 * @param samplerName    sampler display / A1111 name ({@code DDIM}, {@code GE}, ...)
 * @param schedule       schedule id ({@code log-linear}, ...)
 * @param gamma          gradient-estimation weight actually used; null for a sampler without gamma (all but GE)
 * @param width          image width in pixels
 * @param height         image height in pixels
 * @param promptSyntax   how the prompts were read: {@code a1111} or {@code plain} ({@link PromptSyntax#id})
 * @param clipSkip       text-encoder layers skipped at the end, 1 = none (A1111's "Clip skip")
 * @param rng            the generator of the starting and per-step noise: {@code philox}, {@code torch-cpu} or
 *                       {@code tenstep} ({@link RngKind#id})
 * @param model          model name (folder or file name)
 * @param modelHash      A1111's {@code Model hash} of a single-file checkpoint (first 10 hex digits of
 *                       its SHA-256), or null (folders, ideal models)
 * @param infotext       the A1111 {@code parameters} text stored in the PNG
 * @param warnings       e.g. words dropped from a prompt longer than the text encoder's limit
 * @param timings        stage wall times
 * @param file           the PNG's file name, relative to its folder
 * @param sha256         SHA-256 of the PNG file (hex)
 * @param created        ISO-8601 UTC time the image was stored
 * @param key            batch only: the cell, {@code <prompt file name>:<line>#<variant>}
 * @param source         batch only: {@code <prompt file as given>:<line>}
 * @param index          batch only: 0-based index of the prompt line
 * @param variant        batch only: {@code sampler:schedule} (plus {@code :gamma} when not the preset)
 * @param seedBase       batch only: the batch's seed base (line seed = base + index unless the line sets one)
 * @param randomSeed     batch only: the line asked for a random seed, drawn once for the line
 * @param noiseSha256    batch only: SHA-256 of the starting latent z_init as little-endian float32
 *                       (hex), equal across the variants of one line
 * @param img2img        the init image and strength of an img2img generation, else null
 * @param hires          the hires fix of a text-to-image generation, else null
 * @param originalSize   SDXL's {@code original_size} [height, width] as the request set it, else null (the default)
 * @param cropsCoordsTopLeft SDXL's {@code crops_coords_top_left} [top, left] as the request set it, else null
 * @param targetSize     SDXL's {@code target_size} [height, width] as the request set it, else null
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonIgnoreProperties(ignoreUnknown = true)
public record GenerationRecord(
        String prompt,
        String negativePrompt,
        int steps,
        double cfgScale,
        long seed,
        String sampler,
        String samplerName,
        String schedule,
        Double gamma,
        int width,
        int height,
        String promptSyntax,
        Integer clipSkip,
        String rng,
        String model,
        String modelHash,
        String infotext,
        List<String> warnings,
        Timings timings,
        String file,
        String sha256,
        String created,
        String key,
        String source,
        Integer index,
        String variant,
        Long seedBase,
        Boolean randomSeed,
        String noiseSha256,
        Img2ImgRecord img2img,
        HiresRecord hires,
        List<Integer> originalSize,
        List<Integer> cropsCoordsTopLeft,
        List<Integer> targetSize) {

    /**
     * The img2img part of a generation.
     *
     * @param initImage         the init image's file name, or null (an upload)
     * @param initImageSha256   SHA-256 of the init image as given (hex)
     * @param initImageSize     its size before the resize, {@code WxH}
     * @param denoisingStrength the strength
     * @param stepRule          {@code diffusers} or {@code a1111} ({@link dev.tenstep.sampling.Img2ImgSteps})
     * @param stepsRun          the model evaluations it made
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Img2ImgRecord(String initImage, String initImageSha256, String initImageSize, double denoisingStrength,
                                String stepRule, int stepsRun) {
        static Img2ImgRecord of(ResolvedRequest r) {
            Img2Img i = r.img2img();
            return i == null ? null : new Img2ImgRecord(i.image().name(), i.image().sha256(), i.image().size(),
                    i.strength(), i.rule().id(), i.span(r.steps()).steps());
        }
    }

    /**
     * The hires fix of a generation (A1111's field names in snake case).
     *
     * @param hrUpscaler        the latent upscaler's A1111 name
     * @param hrScale           the scale (when no resize was given)
     * @param hrResizeX         {@code hr_resize_x}, 0 = from the scale
     * @param hrResizeY         {@code hr_resize_y}, 0 = from the scale
     * @param hrSecondPassSteps {@code hr_second_pass_steps}, 0 = the first pass's
     * @param denoisingStrength the second pass's strength
     * @param width             the final image width
     * @param height            the final image height
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record HiresRecord(String hrUpscaler, double hrScale, int hrResizeX, int hrResizeY, int hrSecondPassSteps,
                              double denoisingStrength, int width, int height) {
        static HiresRecord of(ResolvedRequest r) {
            HiresFix h = r.hires();
            return h == null ? null : new HiresRecord(h.upscaler().a1111Name(), h.scale(), h.resizeX(), h.resizeY(),
                    h.steps(), h.strength(), r.outputWidth(), r.outputHeight());
        }
    }

    /** The mapper of this layout (snake_case names from the annotations, unknown keys ignored when read). */
    public static final ObjectMapper JSON = JsonMapper.builder()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .build();

    /**
     * Wall times in milliseconds; the fields an adapter does not measure are null.
     *
     * @param textEncoderMs      encoding the prompts
     * @param textEncodingReused batch only: this image reused its line's encoding
     * @param denoiseMs          the sampler loop
     * @param decodeMs           the VAE decode
     * @param totalMs            the whole generation (text encoder to decoded image)
     * @param writeMs            PNG encode, write and fsync
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Timings(Long textEncoderMs, Boolean textEncodingReused, Long denoiseMs, Long decodeMs,
                          Long totalMs, Long writeMs) {
        /** The stage times of a generation. */
        public static Timings of(GenerationResult.Timings t) {
            return new Timings(t.textEncoderMs(), null, t.denoiseMs(), t.decodeMs(), t.totalMs(), null);
        }

        public Timings withWrite(long ms) {
            return new Timings(textEncoderMs, textEncodingReused, denoiseMs, decodeMs, totalMs, ms);
        }

        public Timings withTextEncodingReused(boolean reused) {
            return new Timings(textEncoderMs, reused, denoiseMs, decodeMs, totalMs, writeMs);
        }
    }

    /**
     * The parameters of a resolved request (defaults filled in), before anything ran.
     *
     * @param r     a request resolved by the model
     * @param model the model name, or null
     */
    public static GenerationRecord ofRequest(ResolvedRequest r, String model) {
        return new GenerationRecord(r.prompt(), r.negativePrompt(), r.steps(), r.cfgScale(), r.seed(),
                r.sampler().id(), r.sampler().displayName(), r.schedule().id(), r.gamma(), r.width(), r.height(),
                r.promptSyntax().id(), r.clipSkip(), r.rng().id(), model, null,
                null, null, null, null, null, null, null, null, null, null, null, null, null,
                Img2ImgRecord.of(r), HiresRecord.of(r), originalSize(r), crop(r), targetSize(r));
    }

    private static List<Integer> originalSize(ResolvedRequest r) {
        MicroConditioning m = r.micro();
        return m == null || m.originalSize() == null ? null : List.of(m.originalSize().height(), m.originalSize().width());
    }

    private static List<Integer> crop(ResolvedRequest r) {
        MicroConditioning m = r.micro();
        return m == null || m.cropTopLeft() == null ? null : List.of(m.cropTopLeft().top(), m.cropTopLeft().left());
    }

    private static List<Integer> targetSize(ResolvedRequest r) {
        MicroConditioning m = r.micro();
        return m == null || m.targetSize() == null ? null : List.of(m.targetSize().height(), m.targetSize().width());
    }

    /** A finished generation (not yet stored): parameters, model, infotext, warnings and stage times. */
    public static GenerationRecord of(GenerationResult result, String model) {
        return of(result, model, null);
    }

    /**
     * As {@link #of(GenerationResult, String)}, with the model's A1111 hash ({@link TextToImage#modelHash},
     * may be null).
     */
    public static GenerationRecord of(GenerationResult result, String model, String modelHash) {
        GenerationRecord p = ofRequest(result.request(), model);
        return new GenerationRecord(p.prompt, p.negativePrompt, p.steps, p.cfgScale, p.seed, p.sampler,
                p.samplerName, p.schedule, p.gamma, p.width, p.height, p.promptSyntax, p.clipSkip, p.rng, model, modelHash,
                result.infotext(),
                List.copyOf(result.warnings()), Timings.of(result.timings()),
                null, null, null, null, null, null, null, null, null, null, p.img2img, p.hires, p.originalSize,
                p.cropsCoordsTopLeft, p.targetSize);
    }

    /** This record, stored as {@code file} with the given hash (may be null) at time {@code created}. */
    public GenerationRecord stored(String fileName, String sha, String createdAt) {
        return new GenerationRecord(prompt, negativePrompt, steps, cfgScale, seed, sampler, samplerName, schedule,
                gamma, width, height, promptSyntax, clipSkip, rng, model, modelHash, infotext, warnings, timings, fileName, sha, createdAt,
                key, source, index, variant, seedBase, randomSeed, noiseSha256, img2img, hires,
                originalSize, cropsCoordsTopLeft, targetSize);
    }

    /** This record with other timings. */
    public GenerationRecord withTimings(Timings t) {
        return new GenerationRecord(prompt, negativePrompt, steps, cfgScale, seed, sampler, samplerName, schedule,
                gamma, width, height, promptSyntax, clipSkip, rng, model, modelHash, infotext, warnings, t, file, sha256, created,
                key, source, index, variant, seedBase, randomSeed, noiseSha256, img2img, hires,
                originalSize, cropsCoordsTopLeft, targetSize);
    }

    /** This record with another infotext (the stored PNG's {@code parameters}), e.g. with a field added by the command. */
    public GenerationRecord withInfotext(String text) {
        return new GenerationRecord(prompt, negativePrompt, steps, cfgScale, seed, sampler, samplerName, schedule,
                gamma, width, height, promptSyntax, clipSkip, rng, model, modelHash, text, warnings, timings, file, sha256, created,
                key, source, index, variant, seedBase, randomSeed, noiseSha256, img2img, hires,
                originalSize, cropsCoordsTopLeft, targetSize);
    }

    /** This record as the cell of a batch (see the batch-only parameters above). */
    public GenerationRecord inBatch(String cellKey, String cellSource, int lineIndex, String variantLabel,
                                    long base, boolean random, String noiseSha) {
        return new GenerationRecord(prompt, negativePrompt, steps, cfgScale, seed, sampler, samplerName, schedule,
                gamma, width, height, promptSyntax, clipSkip, rng, model, modelHash, infotext, warnings, timings, file, sha256, created,
                cellKey, cellSource, lineIndex, variantLabel, base, random, noiseSha, img2img, hires,
                originalSize, cropsCoordsTopLeft, targetSize);
    }

    /**
     * The prompt syntax of this record. A record without one ({@code prompt_syntax} absent: written before the
     * field existed) was made when prompts were literal text, i.e. {@code plain}; such a record also predates
     * 75-token chunks (prompts were cut at 77 tokens), which only its prompt's length can tell
     * ({@link #predatesPromptFields}).
     */
    public String effectivePromptSyntax() {
        return promptSyntax != null ? promptSyntax : PromptSyntax.PLAIN.id();
    }

    /** The clip skip of this record; 1 (the last layer, the only choice then) for a record written without one. */
    public int effectiveClipSkip() {
        return clipSkip != null ? clipSkip : 1;
    }

    /**
     * The RNG id of this record. A record without one was written before the field existed, when this program's
     * own generator ({@code tenstep}) was the only one: the default became {@code philox} in the same change that
     * added the choice (CHANGELOG.md), and records name their RNG since.
     */
    public String effectiveRng() {
        return rng != null ? rng : RngKind.TENSTEP.id();
    }

    /**
     * True for a record written before prompt syntax, clip skip and RNG were recorded: its prompts were literal
     * text cut at 77 tokens (see {@link #effectivePromptSyntax}).
     */
    public boolean predatesPromptFields() {
        return promptSyntax == null;
    }

    /**
     * Whether this record describes the same generation as {@code o}: same cell, parameters (prompt syntax, clip
     * skip, RNG and SDXL size conditioning included, missing ones read as described at their accessors), model and file (ignores timings,
     * hashes, warnings and times). Used by batch resume.
     */
    public boolean sameGeneration(GenerationRecord o) {
        return Objects.equals(key, o.key) && prompt.equals(o.prompt) && negativePrompt.equals(o.negativePrompt)
                && steps == o.steps && cfgScale == o.cfgScale && seed == o.seed && sampler.equals(o.sampler)
                && schedule.equals(o.schedule) && Objects.equals(gamma, o.gamma) && width == o.width && height == o.height
                && effectivePromptSyntax().equals(o.effectivePromptSyntax()) && effectiveClipSkip() == o.effectiveClipSkip()
                && effectiveRng().equals(o.effectiveRng())
                && Objects.equals(img2img, o.img2img) && Objects.equals(hires, o.hires)
                && Objects.equals(originalSize, o.originalSize) && Objects.equals(cropsCoordsTopLeft, o.cropsCoordsTopLeft)
                && Objects.equals(targetSize, o.targetSize)
                && Objects.equals(model, o.model) && Objects.equals(file, o.file);
    }
}
