package dev.tenstep.batch;

import dev.tenstep.pipeline.FieldError;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.HiresFix;
import dev.tenstep.pipeline.Img2Img;
import dev.tenstep.pipeline.InitImage;
import dev.tenstep.pipeline.LatentUpscaler;
import dev.tenstep.pipeline.MicroConditioning;
import dev.tenstep.sampling.Img2ImgSteps;
import dev.tenstep.pipeline.prompt.PromptSyntax;
import dev.tenstep.sampling.RngKind;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;

/**
 * The generation options of a prompt-file line (A1111's "prompts from file" syntax,
 * {@code --prompt "..." --steps 10}), also the options of {@code generate} and {@code batch}, which
 * use the same mixin so a line and a command mean the same. A1111's snake_case names ({@code --negative_prompt}, {@code --cfg_scale},
 * {@code --sampler_name}) are accepted as aliases, so "prompts from file" lines parse unchanged.
 */
public class GenerationOptions {
    @Option(names = {"-p", "--prompt"}, description = "Text prompt (may be empty).", defaultValue = "")
    public String prompt = "";

    @Option(names = {"-n", "--negative-prompt", "--negative_prompt"}, description = "Negative prompt.", defaultValue = "")
    public String negativePrompt = "";

    @Option(names = "--steps", description = "Number of denoising steps N, 1..1000 (default: ${DEFAULT-VALUE}).", defaultValue = "10")
    public int steps = GenerationRequest.DEFAULT_STEPS;

    @Option(names = {"--cfg-scale", "--cfg_scale"}, description = "Classifier-free guidance scale (default: the model's: "
            + "7.5 for SD, measured for the built-in models).")
    public Double cfgScale;

    @Option(names = "--seed", description = "Seed; negative = random (the seed used is printed and stored).", defaultValue = "-1")
    public long seed = -1;

    @Option(names = {"--sampler", "--sampler_name"}, description = "Sampler: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).",
            completionCandidates = SamplerNames.class, defaultValue = "ge")
    public String sampler = SamplerKind.DEFAULT.id();

    @Option(names = "--schedule", description = "Sigma schedule: ${COMPLETION-CANDIDATES} (default: the sampler's: ddim for ddim, log-linear for ge, trailing for ddpm).",
            completionCandidates = ScheduleNames.class)
    public String schedule;

    @Option(names = "--gamma", description = "Gradient-estimation weight gamma, 1..10 (default: the sampler's preset, 2 for ge).")
    public Double gamma;

    @Option(names = {"-W", "--width"}, description = "Image width in pixels, a multiple of the VAE scale (8 for SD) (default: the model's).")
    public Integer width;

    @Option(names = {"-H", "--height"}, description = "Image height in pixels, a multiple of the VAE scale (8 for SD) (default: the model's).")
    public Integer height;

    @Option(names = {"--prompt-syntax", "--prompt_syntax"}, paramLabel = "a1111|plain",
            description = "How prompts are read: a1111 = emphasis (x:1.2), BREAK, prompt editing [a:b:N] and [a|b]; "
                    + "plain = every character is text (default: a1111; see docs/prompts.md).")
    public String promptSyntax;

    @Option(names = {"--clip-skip", "--clip_skip"}, paramLabel = "N",
            description = "Encode the prompt with the text encoder's layer N-1 before the last, then the final layer norm, "
                    + "as A1111's \"Clip skip\" (default: 1 = the last layer).")
    public Integer clipSkip;

    @Option(names = "--rng", paramLabel = "philox|torch-cpu|tenstep",
            description = "Generator of the starting noise and the per-step noise: philox = torch.randn on an NVIDIA GPU "
                    + "(A1111's default), torch-cpu = torch.randn on the CPU (diffusers, A1111 \"CPU\"), tenstep = this "
                    + "program's own (before 0.2) (default: philox).")
    public String rng;

    @Option(names = {"--init-image", "--init_image"}, paramLabel = "FILE",
            description = "img2img: start from this image (PNG, JPEG, BMP, GIF), resized to the size (default: the "
                    + "image's, rounded down to the model's multiple) as A1111's \"Just resize\" (see docs/prompts.md).")
    public java.nio.file.Path initImage;

    @Option(names = {"--strength", "--denoising-strength", "--denoising_strength"}, paramLabel = "S",
            description = "img2img denoising strength, 0..1: how much of the init image is redrawn; at --steps N it runs "
                    + "int(N x S) steps (default: 0.75, A1111's).")
    public Double strength;

    @Option(names = {"--img2img-steps", "--img2img_steps"}, paramLabel = "diffusers|a1111",
            description = "Which steps img2img runs: diffusers = int(N x S) steps (the default); a1111 = "
                    + "int(min(S, 0.999) x N) + 1, as A1111's k-diffusion samplers.")
    public String img2imgSteps;

    @Option(names = {"--hr-scale", "--hr_scale"}, paramLabel = "X",
            description = "Hires fix (A1111's enable_hr): render, enlarge the latents X times (1..8), redraw them as "
                    + "img2img by A1111's fixed-steps rule (see docs/prompts.md).")
    public Double hrScale;

    @Option(names = {"--hr-upscaler", "--hr_upscaler"}, paramLabel = "NAME",
            description = "Hires fix latent upscaler: Latent (default), \"Latent (antialiased)\", \"Latent (bicubic)\", "
                    + "\"Latent (bicubic antialiased)\", \"Latent (nearest)\", \"Latent (nearest-exact)\".")
    public String hrUpscaler;

    @Option(names = {"--hr-strength", "--hr_strength"}, paramLabel = "S",
            description = "Hires fix denoising strength of the second pass, above 0 and at most 1 (default: 0.75).")
    public Double hrStrength;

    @Option(names = {"--hr-steps", "--hr_steps", "--hr_second_pass_steps"}, paramLabel = "N",
            description = "Hires fix second-pass steps (default: 0 = the same as --steps).")
    public Integer hrSteps;

    @Option(names = {"--original-size", "--original_size"}, paramLabel = "WxH",
            description = "SDXL only: the original image size the UNet is told, width x height in pixels like --width/"
                    + "--height and A1111's Size (diffusers' original_size, whose JSON form is [height, width]; "
                    + "default: the image's size).")
    public String originalSize;

    @Option(names = {"--crop-top-left", "--crop_top_left", "--crops-coords-top-left"}, paramLabel = "TOP,LEFT",
            description = "SDXL only: the crop's top-left corner the UNet is told, in pixels (diffusers' "
                    + "crops_coords_top_left; default: 0,0).")
    public String cropTopLeft;

    @Option(names = {"--target-size", "--target_size"}, paramLabel = "WxH",
            description = "SDXL only: the target image size the UNet is told, width x height in pixels (diffusers' "
                    + "target_size, JSON [height, width]; default: the image's size).")
    public String targetSize;

    /**
     * The request these options describe; sampler and schedule names are parsed here (any id, display
     * name or alias, case-insensitive).
     *
     * @throws IllegalArgumentException for an unknown sampler or schedule ({@link #validate} reports it per option),
     *                                  or naming the option when --prompt-syntax or --rng is not a known value or a
     *                                  size conditioning option is not of its form
     */
    public GenerationRequest toRequest() {
        PromptSyntax syntax = null;
        RngKind generator = null;
        try {
            syntax = promptSyntax == null ? null : PromptSyntax.parse(promptSyntax);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--prompt-syntax: " + e.getMessage());
        }
        try {
            generator = rng == null ? null : RngKind.parse(rng);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--rng: " + e.getMessage());
        }
        return new GenerationRequest(prompt, negativePrompt, steps, cfgScale, seed, SamplerKind.byName(sampler),
                schedule == null || schedule.isBlank() ? null : ScheduleKind.byName(schedule), gamma, width, height,
                syntax, clipSkip, generator, img2img(), hires(), micro());
    }

    /** SDXL's size conditioning ({@code --original-size}, {@code --crop-top-left}, {@code --target-size}), or null. */
    private MicroConditioning micro() {
        MicroConditioning.Size original = option("--original-size", originalSize, MicroConditioning.Size::parse);
        MicroConditioning.Crop crop = option("--crop-top-left", cropTopLeft, MicroConditioning.Crop::parse);
        MicroConditioning.Size target = option("--target-size", targetSize, MicroConditioning.Size::parse);
        return MicroConditioning.of(original, crop, target);
    }

    private static <T> T option(String name, String text, java.util.function.Function<String, T> parse) {
        try {
            return text == null ? null : parse.apply(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(name + ": " + e.getMessage());
        }
    }

    /** The img2img part ({@code --init-image}, {@code --strength}, {@code --img2img-steps}), or null. */
    private Img2Img img2img() {
        if (initImage == null) {
            if (strength != null || img2imgSteps != null) {
                throw new IllegalArgumentException((strength != null ? "--strength" : "--img2img-steps")
                        + ": needs --init-image (the hires fix's strength is --hr-strength)");
            }
            return null;
        }
        Img2ImgSteps rule;
        try {
            rule = img2imgSteps == null ? null : Img2ImgSteps.parse(img2imgSteps);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--img2img-steps: " + e.getMessage());
        }
        try {
            return new Img2Img(InitImage.read(initImage), strength, rule);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("--init-image: " + e.getMessage());
        }
    }

    /** The hires fix ({@code --hr-scale} and the options it enables), or null. */
    private HiresFix hires() {
        if (hrScale == null) {
            String other = hrUpscaler != null ? "--hr-upscaler" : hrStrength != null ? "--hr-strength"
                    : hrSteps != null ? "--hr-steps" : null;
            if (other != null) {
                throw new IllegalArgumentException(other + ": needs --hr-scale (which turns the hires fix on)");
            }
            return null;
        }
        LatentUpscaler upscaler;
        try {
            upscaler = hrUpscaler == null ? null : LatentUpscaler.byName(hrUpscaler);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--hr-upscaler: " + e.getMessage()
                    + "; pixel-space upscalers (ESRGAN and others) are not supported");
        }
        return new HiresFix(upscaler, hrScale, null, null, hrSteps, hrStrength);
    }

    /**
     * Checks the values that need no model (steps against 1000 training steps, gamma, CFG, sizes
     * positive); the model's own size multiple is checked when it is loaded.
     *
     * @throws CommandLine.ParameterException naming the option, e.g. {@code --width}
     */
    public void validate(CommandLine cmd) {
        List<String> errors = new ArrayList<>();
        try {
            SamplerKind.byName(sampler);
        } catch (IllegalArgumentException e) {
            errors.add("--sampler: " + e.getMessage());
        }
        try {
            if (schedule != null && !schedule.isBlank()) {
                ScheduleKind.byName(schedule);
            }
        } catch (IllegalArgumentException e) {
            errors.add("--schedule: " + e.getMessage());
        }
        try {
            if (errors.isEmpty()) {
                toRequest().validate(1, 1000).forEach(e -> errors.add(optionError(e)));
            }
        } catch (IllegalArgumentException e) {
            // --prompt-syntax, --rng, --init-image or a hires option, named in the message
            errors.add(e.getMessage());
        }
        if (!errors.isEmpty()) {
            throw new CommandLine.ParameterException(cmd, String.join("; ", errors));
        }
    }

    /** A request field error as the command line names it: {@code cfg_scale: ...} becomes {@code --cfg-scale: ...}. */
    public static String optionError(FieldError e) {
        String option = switch (e.field()) {
            // A1111's API names the strength of both workflows denoising_strength; the hires fix's messages say so
            case "denoising_strength" -> e.message().contains("hires") ? "--hr-strength" : "--strength";
            case "hr_second_pass_steps" -> "--hr-steps";
            case "enable_hr" -> "--hr-scale";
            case MicroConditioning.CROPS_COORDS_TOP_LEFT -> "--crop-top-left";
            default -> "--" + e.field().replace('_', '-');
        };
        return option + ": " + e.message();
    }

    /** Completion candidates of {@code --sampler}. */
    public static final class SamplerNames extends ArrayList<String> {
        public SamplerNames() {
            super(SamplerKind.ids());
        }
    }

    /** Completion candidates of {@code --schedule}. */
    public static final class ScheduleNames extends ArrayList<String> {
        public ScheduleNames() {
            super(ScheduleKind.ids());
        }
    }

}
