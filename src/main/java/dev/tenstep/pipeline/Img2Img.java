package dev.tenstep.pipeline;

import dev.tenstep.sampling.Img2ImgSteps;

import java.util.List;
import java.util.Objects;

/**
 * The image-to-image part of a request: start from an init image instead of pure noise. The image is resized to
 * the request's size (A1111's "Just resize", {@link InitImage#tensor}), encoded by the VAE
 * ({@code latent_dist.sample} with the seed's first draw, times {@code scaling_factor}), noised to the level of the
 * strength with the seed's second draw ({@link Img2ImgSteps#addNoise}) and sampled over the rest of the request's
 * schedule ({@link Img2ImgSteps}): at strength 0.6 and 10 steps, 6 UNet evaluations.
 *
 * @param image    the init image
 * @param strength the denoising strength in [0, 1] (A1111's {@code denoising_strength}: 0 keeps the image, 1 keeps
 *                 almost nothing of it); null = {@link #DEFAULT_STRENGTH}
 * @param steps    which steps run ({@code --img2img-steps}); null = {@link Img2ImgSteps#DEFAULT}
 */
public record Img2Img(InitImage image, Double strength, Img2ImgSteps steps) {
    /** A1111's default {@code denoising_strength} (img2img and hires fix). */
    public static final double DEFAULT_STRENGTH = 0.75;

    public Img2Img {
        Objects.requireNonNull(image, "image");
    }

    /** This part with its defaults filled. */
    public Img2Img resolved() {
        return new Img2Img(image, strength(), rule());
    }

    /** The strength used: the request's, else {@link #DEFAULT_STRENGTH}. */
    @Override
    public Double strength() {
        return strength != null ? strength : DEFAULT_STRENGTH;
    }

    /** The step rule used: the request's, else {@link Img2ImgSteps#DEFAULT}. */
    public Img2ImgSteps rule() {
        return steps != null ? steps : Img2ImgSteps.DEFAULT;
    }

    /** The steps run at {@code n} steps ({@link Img2ImgSteps#span}); the request was validated. */
    public Img2ImgSteps.Span span(int n) {
        return rule().span(n, strength());
    }

    /** Range errors of the strength at {@code n} steps, naming {@code denoising_strength}. */
    void validate(int n, List<FieldError> errors) {
        double s = strength();
        if (!Double.isFinite(s) || s < 0 || s > 1) {
            errors.add(new FieldError("denoising_strength", "must be between 0 and 1, got " + s));
            return;
        }
        String why = n >= 1 ? rule().problem(n, s) : null;
        if (why != null) {
            errors.add(new FieldError("denoising_strength", why));
        }
    }

    /**
     * The size of an img2img request: width and height as set; an unset one from the init image (both unset: the
     * image's own size; one set: the other at the image's aspect), rounded down to the model's size multiple (at
     * least one multiple). "Just resize" then stretches the image to that size, so a rounded size changes its aspect
     * by less than one multiple.
     *
     * @param maxSize the largest side (the model's or the server's limit); an image beyond it needs width and height
     * @return {@code {width, height}}, meaningful when no error was added
     */
    static int[] size(InitImage image, Integer width, Integer height, int multiple, int maxSize, List<FieldError> errors) {
        int w;
        int h;
        if (width != null && height != null) {
            return new int[] {width, height};
        } else if (width != null) {
            w = width;
            h = (int) Math.round((double) width * image.height() / image.width());
        } else if (height != null) {
            h = height;
            w = (int) Math.round((double) height * image.width() / image.height());
        } else {
            w = image.width();
            h = image.height();
        }
        w = Math.max(multiple, w / multiple * multiple);
        h = Math.max(multiple, h / multiple * multiple);
        if (w > maxSize || h > maxSize) {
            errors.add(new FieldError(width == null ? "width" : "height", "the init image is " + image.size()
                    + ", which gives " + w + "x" + h + ", beyond this model's limit of " + maxSize
                    + " pixels: set width and height (the image is resized to them)"));
        }
        return new int[] {w, h};
    }
}
