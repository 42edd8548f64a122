package dev.tenstep.cli;

import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.SamplerPresets;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.List;

/**
 * The generation options shared by {@code generate}, {@code batch} and prompt-file lines (picocli
 * mixin). A1111's snake_case names ({@code --negative_prompt}, {@code --cfg_scale},
 * {@code --sampler_name}) are accepted as aliases, so "prompts from file" lines parse unchanged.
 */
public class GenerationOptions {
    @Option(names = {"-p", "--prompt"}, description = "Text prompt (may be empty).", defaultValue = "")
    public String prompt = "";

    @Option(names = {"-n", "--negative-prompt", "--negative_prompt"}, description = "Negative prompt.", defaultValue = "")
    public String negativePrompt = "";

    @Option(names = "--steps", description = "Number of denoising steps N, 1..1000 (default: ${DEFAULT-VALUE}).", defaultValue = "10")
    public int steps = GenerationRequest.DEFAULT_STEPS;

    @Option(names = {"--cfg-scale", "--cfg_scale"}, description = "Classifier-free guidance scale (default: ${DEFAULT-VALUE}).", defaultValue = "7.5")
    public double cfgScale = GenerationRequest.DEFAULT_CFG;

    @Option(names = "--seed", description = "Seed; negative = random (the seed used is printed and stored).", defaultValue = "-1")
    public long seed = -1;

    @Option(names = {"--sampler", "--sampler_name"}, description = "Sampler: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).",
            completionCandidates = SamplerNames.class, defaultValue = "ge")
    public String sampler = "ge";

    @Option(names = "--schedule", description = "Sigma schedule: ${COMPLETION-CANDIDATES} (default: ddim for ddim, log-linear for ge, trailing for ddpm).",
            completionCandidates = ScheduleNames.class)
    public String schedule;

    @Option(names = "--gamma", description = "Gradient-estimation weight gamma, 1..10 (default: the sampler's preset, 2 for ge).")
    public Double gamma;

    @Option(names = {"-W", "--width"}, description = "Image width in pixels, a multiple of the VAE scale (8 for SD) (default: the model's).")
    public Integer width;

    @Option(names = {"-H", "--height"}, description = "Image height in pixels, a multiple of the VAE scale (8 for SD) (default: the model's).")
    public Integer height;

    /** The request these options describe. */
    public GenerationRequest toRequest() {
        // display names ("DDIM", "Gradient estimation") are accepted; an unknown name is left for
        // GenerationRequest.validate, whose error names the option the user typed (--sampler)
        String s = SamplerPresets.parse(sampler);
        String sched = schedule == null ? null : schedule.trim().toLowerCase(java.util.Locale.ROOT);
        return new GenerationRequest(prompt, negativePrompt, steps, cfgScale, seed, s != null ? s : sampler, sched, gamma,
                width, height);
    }

    /**
     * Checks the values that need no model (steps against 1000 training steps, gamma, CFG, sizes
     * positive); the model's own size multiple is checked when it is loaded.
     *
     * @throws CommandLine.ParameterException naming the option, e.g. {@code --width}
     */
    public void validate(CommandLine cmd) {
        List<String> errors = toRequest().validate(1, 1000);
        if (!errors.isEmpty()) {
            List<String> named = new ArrayList<>();
            for (String e : errors) {
                named.add(optionName(e));
            }
            throw new CommandLine.ParameterException(cmd, String.join("; ", named));
        }
    }

    /** Rewrites a request error "width: ..." as "--width: ...". */
    public static String optionName(String error) {
        int colon = error.indexOf(':');
        if (colon < 0) {
            return error;
        }
        String field = error.substring(0, colon);
        String option = switch (field) {
            case "cfg_scale" -> "--cfg-scale";
            default -> "--" + field.replace('_', '-');
        };
        return option + error.substring(colon);
    }

    /** Completion candidates of {@code --sampler}. */
    public static final class SamplerNames extends ArrayList<String> {
        public SamplerNames() {
            super(SamplerPresets.NAMES);
        }
    }

    /** Completion candidates of {@code --schedule}. */
    public static final class ScheduleNames extends ArrayList<String> {
        public ScheduleNames() {
            super(SamplerPresets.SCHEDULES);
        }
    }
}
