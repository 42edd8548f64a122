package dev.tenstep.pipeline;

import dev.tenstep.sampling.Img2ImgSteps;
import dev.tenstep.sampling.NoiseSchedule;
import dev.tenstep.sampling.ScheduleKind;

import java.util.List;
import java.util.Locale;

/**
 * AUTOMATIC1111's "hires fix" ({@code enable_hr}) of a text-to-image request ({@code processing.py}
 * {@code StableDiffusionProcessingTxt2Img}): the first pass at the request's size, its final latents enlarged by a
 * latent upscaler ({@link LatentUpscaler}) to the hires size ({@link #target}), then a second pass as img2img of
 * those latents at {@code denoising_strength} with A1111's fixed-steps rule ({@link Img2ImgSteps#fixedSteps}:
 * exactly {@code hr_second_pass_steps} steps, or the first pass's when 0), its noise the first draw of a fresh
 * generator of the image seed (A1111's {@code rng.ImageRNG} in {@code sample_hr_pass}), its per-step noise that
 * generator's next draws. The same sampler, schedule kind, prompts and guidance run both passes. Pixel-space
 * upscalers (ESRGAN, Lanczos, "None") are refused.
 *
 * @param upscaler A1111's {@code hr_upscaler}; null = {@code Latent} (A1111's {@code latent_upscale_default_mode})
 * @param scale    {@code hr_scale}, used when neither resize is set; null = 2
 * @param resizeX  {@code hr_resize_x} in pixels; null or 0 = from the scale (or from resizeY's aspect)
 * @param resizeY  {@code hr_resize_y} in pixels; null or 0 = from the scale (or from resizeX's aspect)
 * @param steps    {@code hr_second_pass_steps}; null or 0 = the first pass's steps
 * @param strength {@code denoising_strength} of the second pass, in (0, 1]; null = 0.75 (A1111's default)
 */
public record HiresFix(LatentUpscaler upscaler, Double scale, Integer resizeX, Integer resizeY, Integer steps,
                       Double strength) {
    /** A1111's default {@code hr_scale}. */
    public static final double DEFAULT_SCALE = 2.0;
    /** The largest {@code hr_scale} accepted (A1111's slider ends at 4). */
    public static final double MAX_SCALE = 8.0;

    /** With every default: Latent upscaler, 2x, the first pass's steps, strength 0.75. */
    public static final HiresFix DEFAULT = new HiresFix(null, null, null, null, null, null);

    /** This part with its defaults filled (resizes and steps as 0 when unset). */
    public HiresFix resolved() {
        return new HiresFix(upscaler(), scale(), resizeX(), resizeY(), steps(), strength());
    }

    @Override
    public LatentUpscaler upscaler() {
        return upscaler != null ? upscaler : LatentUpscaler.LATENT;
    }

    @Override
    public Double scale() {
        return scale != null ? scale : DEFAULT_SCALE;
    }

    @Override
    public Integer resizeX() {
        return resizeX != null ? resizeX : 0;
    }

    @Override
    public Integer resizeY() {
        return resizeY != null ? resizeY : 0;
    }

    @Override
    public Integer steps() {
        return steps != null ? steps : 0;
    }

    @Override
    public Double strength() {
        return strength != null ? strength : Img2Img.DEFAULT_STRENGTH;
    }

    /** Whether the hires size comes from {@code hr_resize_x/y} rather than the scale. */
    public boolean resizes() {
        return resizeX() != 0 || resizeY() != 0;
    }

    /** The second pass's steps: {@code hr_second_pass_steps}, or the first pass's when 0. */
    public int passSteps(int firstPassSteps) {
        return steps() != 0 ? steps() : firstPassSteps;
    }

    /** The second pass's steps on its schedule ({@link Img2ImgSteps#fixedSteps}). */
    public Img2ImgSteps.Span span(int firstPassSteps) {
        return Img2ImgSteps.fixedSteps(passSteps(firstPassSteps), strength());
    }

    /**
     * The hires size of a first pass of {@code width x height} (A1111's {@code calculate_target_resolution}):
     * <ul>
     *   <li>no resize: {@code int(width * scale) x int(height * scale)};</li>
     *   <li>one resize given: that side, the other by the first pass's aspect ({@code resize_x * height // width});</li>
     *   <li>both: upscaled to cover {@code resize_x x resize_y} at the first pass's aspect, then the latents cropped
     *       to it, centred ({@code truncate_x/y}, in latent pixels, in {@code sample_hr_pass}).</li>
     * </ul>
     *
     * @param upscaledWidth  width the latents are upscaled to, in pixels (before the crop)
     * @param upscaledHeight height the latents are upscaled to, in pixels
     * @param width          the final image width
     * @param height         the final image height
     */
    public record Target(int upscaledWidth, int upscaledHeight, int width, int height) {
    }

    /** See {@link Target}. */
    public Target target(int width, int height) {
        int rx = resizeX();
        int ry = resizeY();
        if (rx == 0 && ry == 0) {
            int w = (int) (width * scale());
            int h = (int) (height * scale());
            return new Target(w, h, w, h);
        }
        if (ry == 0) {
            int h = (int) ((long) rx * height / width);
            return new Target(rx, h, rx, h);
        }
        if (rx == 0) {
            int w = (int) ((long) ry * width / height);
            return new Target(w, ry, w, ry);
        }
        double src = (double) width / height;
        double dst = (double) rx / ry;
        if (src < dst) {
            return new Target(rx, (int) ((long) rx * height / width), rx, ry);
        }
        return new Target((int) ((long) ry * width / height), ry, rx, ry);
    }

    /**
     * The request errors of this hires fix on a first pass of {@code width x height} and {@code firstSteps} steps,
     * each naming its A1111 field: the scale and resizes (the hires size at least the first pass's - the latent
     * upscalers only enlarge -, a multiple of {@code sizeMultiple}, at most {@code maxSize}), the steps, the strength
     * (above 0: the fixed-steps rule divides by it) and the schedule the fixed-steps rule builds.
     */
    void validate(int width, int height, int firstSteps, ScheduleKind schedule, NoiseSchedule ns, int sizeMultiple,
                  int maxSize, List<FieldError> errors) {
        int before = errors.size();
        double sc = scale();
        if (!resizes() && (!Double.isFinite(sc) || sc < 1 || sc > MAX_SCALE)) {
            errors.add(new FieldError("hr_scale", "must be between 1 and " + number(MAX_SCALE) + ", got " + number(sc)));
        }
        if (resizeX() < 0 || resizeX() > maxSize) {
            errors.add(new FieldError("hr_resize_x", "must be 0 (from hr_scale) or 1 .. " + maxSize + " pixels, got " + resizeX()));
        }
        if (resizeY() < 0 || resizeY() > maxSize) {
            errors.add(new FieldError("hr_resize_y", "must be 0 (from hr_scale) or 1 .. " + maxSize + " pixels, got " + resizeY()));
        }
        int trainSteps = ns.numTrainTimesteps();
        if (steps() < 0 || steps() > trainSteps) {
            errors.add(new FieldError("hr_second_pass_steps", "must be 0 (the first pass's steps) or 1 .. " + trainSteps
                    + ", got " + steps()));
        }
        double st = strength();
        if (!Double.isFinite(st) || st <= 0 || st > 1) {
            errors.add(new FieldError("denoising_strength", "must be above 0 and at most 1 for the hires fix (A1111's "
                    + "fixed-steps rule divides the steps by it), got " + number(st)));
        }
        if (errors.size() > before) {
            return;
        }
        Target t = target(width, height);
        String field = resizes() ? (resizeX() != 0 ? "hr_resize_x" : "hr_resize_y") : "hr_scale";
        if (t.upscaledWidth() < width || t.upscaledHeight() < height) {
            errors.add(new FieldError(field, "the hires size " + t.upscaledWidth() + "x" + t.upscaledHeight()
                    + " is smaller than the first pass " + width + "x" + height + ": latent upscalers only enlarge"));
        } else if (t.width() % sizeMultiple != 0 || t.height() % sizeMultiple != 0
                || t.upscaledWidth() % sizeMultiple != 0 || t.upscaledHeight() % sizeMultiple != 0) {
            errors.add(new FieldError(field, "gives a hires size of " + t.upscaledWidth() + "x" + t.upscaledHeight()
                    + (t.width() != t.upscaledWidth() || t.height() != t.upscaledHeight()
                    ? " cropped to " + t.width() + "x" + t.height() : "")
                    + ", not a multiple of " + sizeMultiple + " (the model's size multiple)"));
        } else if (t.upscaledWidth() > maxSize || t.upscaledHeight() > maxSize) {
            errors.add(new FieldError(field, "gives a hires size of " + t.upscaledWidth() + "x" + t.upscaledHeight()
                    + ", more than this server's limit of " + maxSize + " pixels"));
        }
        int n = passSteps(firstSteps);
        int s = Img2ImgSteps.fixedScheduleSteps(n, st);
        String stepsProblem = schedule.stepsProblem(ns, s);
        if (stepsProblem != null) {
            errors.add(new FieldError("denoising_strength", "the hires pass of " + n + " steps at strength " + number(st)
                    + " runs the last " + n + " steps of a " + s + "-step " + schedule.id()
                    + " schedule (A1111's fixed-steps rule: steps / strength), which " + stepsProblem
                    .replaceFirst("^must", "must have") + "; raise the strength or lower the steps"));
        }
    }

    /** The field of the hires size, for messages. */
    static String number(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : String.format(Locale.ROOT, "%s", v);
    }
}
