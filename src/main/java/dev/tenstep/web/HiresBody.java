package dev.tenstep.web;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import dev.tenstep.pipeline.FieldError;
import dev.tenstep.pipeline.HiresFix;
import dev.tenstep.pipeline.LatentUpscaler;

import java.util.List;

/**
 * The hires-fix fields of a txt2img body, A1111's names in both APIs ({@code /api/txt2img} and
 * {@code /sdapi/v1/txt2img}), bound by {@link Requests#bind} from the same body; null: not sent. With
 * {@code enable_hr} false or absent the other fields change nothing (A1111 sends them with every request) and are
 * not read. A1111's per-pass overrides ({@code hr_sampler_name}, {@code hr_scheduler}, {@code hr_prompt},
 * {@code hr_negative_prompt}, {@code hr_checkpoint_name}, {@code hr_cfg}) are accepted only at their no-op values:
 * both passes run the request's own.
 *
 * @param enableHr          turn the hires fix on
 * @param hrScale           the upscale factor (1 .. 8), used when neither resize is set; default 2
 * @param hrUpscaler        a latent upscaler's A1111 name ({@link LatentUpscaler}); pixel-space upscalers are refused
 * @param hrSecondPassSteps the second pass's steps, 0 = the first pass's
 * @param hrResizeX         target width in pixels, 0 = from the scale
 * @param hrResizeY         target height in pixels, 0 = from the scale
 * @param denoisingStrength the second pass's strength, in (0, 1]; default 0.75
 */
@JsonIgnoreProperties(ignoreUnknown = true)
record HiresBody(@JsonProperty("enable_hr") @JsonDeserialize(using = Requests.Flag.class) Boolean enableHr,
                 @JsonProperty("hr_scale") @JsonDeserialize(using = Requests.Decimal.class) Double hrScale,
                 @JsonProperty("hr_upscaler") @JsonDeserialize(using = Requests.Text.class) String hrUpscaler,
                 @JsonProperty("hr_second_pass_steps") @JsonDeserialize(using = Requests.Int32.class) Integer hrSecondPassSteps,
                 @JsonProperty("hr_resize_x") @JsonDeserialize(using = Requests.Int32.class) Integer hrResizeX,
                 @JsonProperty("hr_resize_y") @JsonDeserialize(using = Requests.Int32.class) Integer hrResizeY,
                 @JsonProperty("denoising_strength") @JsonDeserialize(using = Requests.Decimal.class) Double denoisingStrength,
                 @JsonProperty("hr_sampler_name") @JsonDeserialize(using = Requests.Text.class) String hrSamplerName,
                 @JsonProperty("hr_scheduler") @JsonDeserialize(using = Requests.Text.class) String hrScheduler,
                 @JsonProperty("hr_prompt") @JsonDeserialize(using = Requests.Text.class) String hrPrompt,
                 @JsonProperty("hr_negative_prompt") @JsonDeserialize(using = Requests.Text.class) String hrNegativePrompt,
                 @JsonProperty("hr_checkpoint_name") @JsonDeserialize(using = Requests.Text.class) String hrCheckpointName,
                 @JsonProperty("hr_cfg") @JsonDeserialize(using = Requests.Decimal.class) Double hrCfg) {

    /**
     * The hires fix asked for, or null without {@code enable_hr}; a name that is no latent upscaler and a per-pass
     * override that would change the second pass are added to {@code errors} naming their field.
     *
     * @param prompt         the request's prompt (an {@code hr_prompt} equal to it is a no-op)
     * @param negativePrompt the request's negative prompt
     * @param cfgScale       the request's guidance scale, or null
     */
    HiresFix toHires(String prompt, String negativePrompt, Double cfgScale, List<FieldError> errors) {
        if (!Boolean.TRUE.equals(enableHr)) {
            return null;
        }
        LatentUpscaler upscaler = null;
        if (hrUpscaler != null && !hrUpscaler.isBlank()) {
            try {
                upscaler = LatentUpscaler.byName(hrUpscaler);
            } catch (IllegalArgumentException e) {
                errors.add(new FieldError("hr_upscaler", "'" + hrUpscaler + "' is no latent upscaler: this server has "
                        + "no pixel-space upscalers (ESRGAN, Lanczos, None and the like); latent upscalers: "
                        + String.join(", ", java.util.Arrays.stream(LatentUpscaler.values())
                        .map(LatentUpscaler::a1111Name).toList())));
            }
        }
        samePass("hr_sampler_name", hrSamplerName, List.of("Use same sampler"), errors);
        samePass("hr_scheduler", hrScheduler, List.of("Use same scheduler"), errors);
        samePass("hr_checkpoint_name", hrCheckpointName, List.of("Use same checkpoint"), errors);
        if (hrPrompt != null && !hrPrompt.isEmpty() && !hrPrompt.equals(prompt)) {
            errors.add(new FieldError("hr_prompt", "a prompt of its own for the hires pass is not supported (send \"\" "
                    + "or the prompt)"));
        }
        if (hrNegativePrompt != null && !hrNegativePrompt.isEmpty() && !hrNegativePrompt.equals(negativePrompt)) {
            errors.add(new FieldError("hr_negative_prompt", "a negative prompt of its own for the hires pass is not "
                    + "supported (send \"\" or the negative prompt)"));
        }
        if (hrCfg != null && hrCfg != 0 && (cfgScale == null || !hrCfg.equals(cfgScale))) {
            errors.add(new FieldError("hr_cfg", "a guidance scale of its own for the hires pass is not supported"));
        }
        return new HiresFix(upscaler, hrScale, hrResizeX, hrResizeY, hrSecondPassSteps, denoisingStrength);
    }

    private static void samePass(String field, String value, List<String> noOps, List<FieldError> errors) {
        if (value != null && !value.isBlank() && !noOps.contains(value.strip())) {
            errors.add(new FieldError(field, "a setting of its own for the hires pass is not supported (leave it out or "
                    + "send \"" + noOps.get(0) + "\"), got '" + value + "'"));
        }
    }
}
