package dev.tenstep.web;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import dev.tenstep.pipeline.FieldError;
import dev.tenstep.pipeline.Img2Img;
import dev.tenstep.pipeline.InitImage;
import dev.tenstep.sampling.Img2ImgSteps;

import java.util.List;

/**
 * The img2img fields of a body: the native API's {@code init_image} (one base64 image or data URL) and A1111's
 * {@code /sdapi/v1/img2img} fields ({@code init_images}, {@code resize_mode}, {@code mask}, ...), bound by
 * {@link Requests#bind} from the same body; null: not sent. Only A1111's {@code resize_mode} 0 ("Just resize") is
 * implemented, and no inpainting: another mode, a {@code mask} or an {@code initial_noise_multiplier} other than 1
 * is refused naming the field.
 *
 * @param initImage              the native API's init image, base64 (a data URL too)
 * @param initImages             A1111's list of base64 init images (one is taken)
 * @param denoisingStrength      the strength in [0, 1]; default 0.75
 * @param img2imgSteps           {@code diffusers} (default) or {@code a1111} ({@link Img2ImgSteps})
 * @param resizeMode             A1111's resize mode; only 0
 * @param mask                   A1111's inpainting mask; refused
 * @param initialNoiseMultiplier A1111's noise multiplier; only 1
 * @param includeInitImages      A1111: return the init images after the generated ones
 */
@JsonIgnoreProperties(ignoreUnknown = true)
record Img2ImgBody(@JsonProperty("init_image") @JsonDeserialize(using = Requests.Text.class) String initImage,
                   @JsonProperty("init_images") JsonNode initImages,
                   @JsonProperty("denoising_strength") @JsonDeserialize(using = Requests.Decimal.class) Double denoisingStrength,
                   @JsonProperty("img2img_steps") @JsonDeserialize(using = Requests.Text.class) String img2imgSteps,
                   @JsonProperty("resize_mode") @JsonDeserialize(using = Requests.Int32.class) Integer resizeMode,
                   JsonNode mask,
                   @JsonProperty("initial_noise_multiplier") @JsonDeserialize(using = Requests.Decimal.class)
                   Double initialNoiseMultiplier,
                   @JsonProperty("include_init_images") @JsonDeserialize(using = Requests.Flag.class) Boolean includeInitImages) {

    /**
     * The native API's part: an img2img request when {@code init_image} was sent, else null.
     *
     * @param hires whether the body turned the hires fix on (then {@code denoising_strength} is its)
     */
    Img2Img nativeImg2Img(boolean hires, List<FieldError> errors) {
        for (String a1111 : a1111Only()) {
            errors.add(new FieldError(a1111, "is a field of A1111's /sdapi/v1/img2img; this API takes one base64 "
                    + "init_image"));
        }
        if (initImage == null || initImage.isBlank()) {
            if ((denoisingStrength != null && !hires) || img2imgSteps != null) {
                errors.add(new FieldError(denoisingStrength != null ? "denoising_strength" : "img2img_steps",
                        "needs init_image (the hires fix takes denoising_strength with enable_hr)"));
            }
            return null;
        }
        return img2img(decode("init_image", initImage, errors), errors);
    }

    /**
     * A1111's {@code /sdapi/v1/img2img} part: one image of {@code init_images}, resize mode 0, no mask.
     *
     * @return the request's img2img part, meaningful when no error was added
     */
    Img2Img a1111Img2Img(List<FieldError> errors) {
        InitImage image = null;
        if (initImages == null || !initImages.isArray() || initImages.isEmpty()) {
            errors.add(new FieldError("init_images", "must be a list of one base64 image"));
        } else if (initImages.size() > 1) {
            errors.add(new FieldError("init_images", "this server takes one init image per call, got "
                    + initImages.size()));
        } else if (!initImages.get(0).isTextual()) {
            errors.add(new FieldError("init_images", "must hold a base64 string"));
        } else {
            image = decode("init_images", initImages.get(0).asText(), errors);
        }
        if (resizeMode != null && resizeMode != 0) {
            errors.add(new FieldError("resize_mode", "only 0 (Just resize) is supported, got " + resizeMode
                    + " (1 crop and resize, 2 resize and fill, 3 latent upscale are not)"));
        }
        if (mask != null && !mask.isNull() && !(mask.isTextual() && mask.asText().isEmpty())) {
            errors.add(new FieldError("mask", "inpainting is not supported by this server (send null or leave it out)"));
        }
        if (initialNoiseMultiplier != null && initialNoiseMultiplier != 1.0) {
            errors.add(new FieldError("initial_noise_multiplier", "only 1 is supported, got " + initialNoiseMultiplier));
        }
        return image == null ? null : img2img(image, errors);
    }

    /** The A1111-only fields that were sent. */
    private List<String> a1111Only() {
        List<String> sent = new java.util.ArrayList<>();
        if (initImages != null) {
            sent.add("init_images");
        }
        if (resizeMode != null) {
            sent.add("resize_mode");
        }
        if (mask != null) {
            sent.add("mask");
        }
        if (initialNoiseMultiplier != null) {
            sent.add("initial_noise_multiplier");
        }
        if (includeInitImages != null) {
            sent.add("include_init_images");
        }
        return sent;
    }

    private Img2Img img2img(InitImage image, List<FieldError> errors) {
        Img2ImgSteps rule = null;
        if (img2imgSteps != null && !img2imgSteps.isBlank()) {
            try {
                rule = Img2ImgSteps.parse(img2imgSteps);
            } catch (IllegalArgumentException e) {
                errors.add(new FieldError("img2img_steps", e.getMessage()));
            }
        }
        return image == null ? null : new Img2Img(image, denoisingStrength, rule);
    }

    private static InitImage decode(String field, String base64, List<FieldError> errors) {
        try {
            return InitImage.fromBase64(base64);
        } catch (IllegalArgumentException e) {
            errors.add(new FieldError(field, e.getMessage()));
            return null;
        }
    }
}
