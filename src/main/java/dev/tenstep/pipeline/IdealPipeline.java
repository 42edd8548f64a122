package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.pipeline.prompt.Emphasis;
import dev.tenstep.pipeline.prompt.PromptSyntax;
import dev.tenstep.sampling.NoiseSchedule;
import dev.tenstep.sampling.ideal.IdealDenoiser;
import dev.tenstep.sampling.ideal.IdealModels;
import dev.tenstep.sampling.ideal.ImageDataSet;

import java.awt.image.BufferedImage;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * The ideal-denoiser model as a {@link TextToImage}: sampling in pixel space with the closed-form denoiser of a
 * captioned image set ({@link IdealDenoiser}; {@code ideal:shapes} or {@code ideal:DIR}). The "latent" is the
 * image itself, [1, C, H, W] in [-1, 1] (no VAE), so decoding is {@code round(clamp((z + 1) / 2) * 255)} and
 * previews of x0-hat are exact. The prompt selects the images whose caption has all its words, the negative
 * prompt the unconditional subset, and the guidance scale is classifier-free guidance between the two. Schedules
 * use the Stable Diffusion 1.x training table ({@link IdealModels#noiseSchedule()}). Images have exactly the data
 * set's size; another width or height is refused. It contributes its denoiser and the identity decoder to the shared
 * {@link DenoiseStage}.
 *
 * <p>Thread-safe: the data set is immutable and each generation has its own manager and random source.
 */
public final class IdealPipeline implements TextToImage {
    private static final SecureRandom SEEDS = new SecureRandom();

    private final String name;
    private final ImageDataSet data;
    private final NoiseSchedule noiseSchedule = IdealModels.noiseSchedule();
    /** Made once: every request's resolve and every page render asks for them. */
    private final ModelDefaults defaults;

    /**
     * @param name the model's name, e.g. {@code ideal:shapes}
     * @param data the data set
     */
    public IdealPipeline(String name, ImageDataSet data) {
        this.name = name;
        this.data = data;
        List<String> words = List.copyOf(new TreeSet<>(data.knownWords()));
        this.defaults = IdealModels.SHAPES.equals(name)
                ? new ModelDefaults(SHAPES_GUIDANCE_SCALE, "a large blue star on a navy background, top left", words)
                : new ModelDefaults(ModelDefaults.SD.guidanceScale(), "", words);
    }

    /**
     * Loads {@code ideal:shapes} or {@code ideal:DIR}.
     *
     * @throws IllegalArgumentException if the name or the folder is invalid (message names the problem)
     */
    public static IdealPipeline load(String model) {
        return new IdealPipeline(model, IdealModels.dataSet(model));
    }

    @Override
    public String name() {
        return name;
    }

    public ImageDataSet data() {
        return data;
    }

    @Override
    public NoiseSchedule noiseSchedule() {
        return noiseSchedule;
    }

    /** The data set's width: the only accepted width (and, for square sets, height). */
    @Override
    public int sizeMultiple() {
        return Math.min(data.width(), data.height());
    }

    @Override
    public int defaultSize() {
        return data.width();
    }

    /** The data set's larger side: the model draws only its own size, so a server offers no larger one. */
    @Override
    public int maxSize() {
        return Math.max(data.width(), data.height());
    }

    /**
     * The words of the data set's captions; for {@code ideal:shapes} also guidance scale 3 and the README's star
     * prompt, where the accuracy study (docs/fidelity.md) has GE at N = 10 drawing the prompt's colour and shape as
     * often as DDIM (at 7.5 GE loses: the exact denoiser jumps between pictures, which GE's extrapolation doubles).
     */
    @Override
    public ModelDefaults defaults() {
        return defaults;
    }

    /** {@code ideal:shapes}' default guidance scale (see {@link #defaults}). */
    public static final double SHAPES_GUIDANCE_SCALE = 3.0;

    /** No text encoder: clip skip 1 only. */
    @Override
    public int maxClipSkip() {
        return 1;
    }

    /**
     * Fills the defaults (the data set's size, a random seed) and validates the request.
     *
     * @throws InvalidRequestException listing every invalid field: those of {@link GenerationRequest#validate},
     *                                 a width or height other than the data set's, a prompt or negative prompt that
     *                                 matches no caption (listing the known words)
     */
    @Override
    public ResolvedRequest resolve(GenerationRequest r, int maxSize) {
        List<FieldError> errors = new ArrayList<>(r.validate(1, noiseSchedule.numTrainTimesteps(),
                Math.max(maxSize, Math.max(data.width(), data.height()))));
        errors.removeIf(e -> e.field().equals("width") || e.field().equals("height"));
        String stepsProblem = (r.schedule() != null ? r.schedule() : r.sampler().defaultSchedule()).stepsProblem(noiseSchedule, r.steps());
        if (stepsProblem != null && errors.stream().noneMatch(e -> e.field().equals("steps"))) {
            errors.add(new FieldError("steps", stepsProblem));
        }
        if (r.width() != null && r.width() != data.width()) {
            errors.add(new FieldError("width", "must be " + data.width() + " for " + name + " (the data set's image width), got "
                    + r.width()));
        }
        if (r.height() != null && r.height() != data.height()) {
            errors.add(new FieldError("height", "must be " + data.height() + " for " + name + " (the data set's image height), got "
                    + r.height()));
        }
        checkWords(r, r.prompt(), "prompt", errors);
        checkWords(r, r.negativePrompt(), "negative_prompt", errors);
        if (r.clipSkip() != null && r.clipSkip() != 1) {
            errors.add(new FieldError("clip_skip", name + " has no text encoder: clip skip must be 1, got " + r.clipSkip()));
        }
        if (r.micro() != null) {
            errors.addAll(r.micro().refusedBy(name));
        }
        if (r.img2img() != null) {
            errors.add(new FieldError("init_image", name + " has no image encoder: img2img needs a Stable Diffusion model"));
        }
        if (r.hires() != null) {
            errors.add(new FieldError("enable_hr", name + " draws only its data set's size: the hires fix needs a "
                    + "Stable Diffusion model"));
        }
        if (!errors.isEmpty()) {
            throw new InvalidRequestException(errors);
        }
        long seed = r.seed() >= 0 ? r.seed() : (SEEDS.nextLong() & 0xffffffffL);
        // the prompt syntax changes nothing here (prompts only name caption subsets) but is kept for the record
        return r.resolved(seed, data.width(), data.height(), defaults);
    }

    /**
     * Adds an error when a prompt names no caption subset. A1111 emphasis or BREAK is refused by name (an exact
     * denoiser selects pictures by their words and cannot weight a word), not reported as the unknown words that
     * its digits would otherwise be.
     */
    private void checkWords(GenerationRequest r, String text, String field, List<FieldError> errors) {
        if (!dev.tenstep.pipeline.prompt.LoraTags.removeTags(text).equals(text)) {
            errors.add(new FieldError(field, name + " has no network weights for a LoRA to change: remove the <lora:...> "
                    + "tags from \"" + text + "\""));
            return;
        }
        if (r.promptSyntax() != PromptSyntax.PLAIN && !text.isEmpty()) {
            boolean plain;
            try {
                plain = Emphasis.isPlain(text);
            } catch (IllegalArgumentException e) {
                plain = false;
            }
            if (!plain) {
                errors.add(new FieldError(field, name + " selects pictures by the words of their captions and cannot weight "
                        + "them: remove the emphasis ((word), [word], (word:1.2)) or BREAK from \"" + text + "\""));
                return;
            }
        }
        try {
            data.subset(text, field.replace('_', ' '));
        } catch (IllegalArgumentException e) {
            errors.add(new FieldError(field, e.getMessage()));
        }
    }

    /** {@code [1, C, H, W]} of the data set. */
    @Override
    public long[] latentShape(ResolvedRequest resolved) {
        return new long[] {1, data.channels(), data.height(), data.width()};
    }

    /**
     * The ideal model has no text encoder: the "embedding" only carries the prompts (empty data), which select the
     * caption subsets at generation time.
     */
    @Override
    public TextToImage.PromptEmbedding encodePrompt(String prompt, String negativePrompt) {
        return new TextToImage.PromptEmbedding(prompt, negativePrompt,
                dev.tenstep.pipeline.prompt.PromptSyntax.PLAIN, 1, java.util.Map.of(), new float[0], new long[] {0}, List.of());
    }

    /** A CPU manager: the data set lives on the host. */
    @Override
    public NDManager newManager() {
        return NDManager.newBaseManager();
    }

    /**
     * The closed-form denoiser of the caption subsets the prompt and the negative prompt select, with
     * classifier-free guidance between them ({@link IdealDenoiser#forPrompt}); nothing is encoded, so the
     * embedding is not used.
     */
    @Override
    public Conditioned condition(ResolvedRequest r, TextToImage.PromptEmbedding embedding, NDManager manager) {
        return new Conditioned(IdealDenoiser.forPrompt(data, r.prompt(), r.negativePrompt(), r.cfgScale()),
                k -> "p0/n0", List.of(), name);
    }

    /** The "latent" is the image in [-1, 1]: a copy of it. */
    @Override
    public NDArray decode(NDArray latents) {
        NDArray image = latents.duplicate();
        NonFiniteException.check(image.toFloatArray(), "decode (" + name + ")");
        return image;
    }

    /** x0-hat is an image already: both kinds of preview are exact. */
    @Override
    public BufferedImage preview(StepProgress step, boolean exact) {
        return Images.toImage(step.x0hat(), step.height(), step.width());
    }

    @Override
    public void close() {
        // nothing native is held
    }
}
