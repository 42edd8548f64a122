package dev.tenstep.pipeline;

import dev.tenstep.model.unet.AddedConditioning;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * SDXL's micro-conditioning as a request sets it (Podell et al., "SDXL", 2023, section 2.2; diffusers
 * {@code StableDiffusionXLPipeline.__call__}'s {@code original_size}, {@code crops_coords_top_left} and
 * {@code target_size}): the six numbers of the UNet's {@code time_ids} ({@link AddedConditioning#timeIds}), in pixels.
 * A part left null takes diffusers' default: original size = target size = (height, width) of the image, crop (0, 0).
 * Only SDXL models have the conditioning; other models refuse a request that sets any part (the field named).
 *
 * <p>Two orders, each that of its neighbours: the JSON fields and records keep diffusers' tuples, height first
 * ({@code original_size} [h, w], {@code crops_coords_top_left} [top, left]); the text forms (the options
 * {@code --original-size}, {@code --target-size}, prompt-file lines, the infotext) write a size width first,
 * {@code WxH}, as A1111's {@code Size: 512x768} and {@code --width}/{@code --height} do, so one infotext never mixes
 * orders. A crop is {@code TOP,LEFT} everywhere (diffusers' order; A1111 has no text form of it).
 *
 * @param originalSize the size the model is told the training picture had; null = the image's size
 * @param cropTopLeft  the crop's top-left corner the model is told the picture had; null = (0, 0)
 * @param targetSize   the size the model is told the picture is made for; null = the image's size
 */
public record MicroConditioning(Size originalSize, Crop cropTopLeft, Size targetSize) {
    /** Request field names (JSON API, records). */
    public static final String ORIGINAL_SIZE = "original_size", CROPS_COORDS_TOP_LEFT = "crops_coords_top_left",
            TARGET_SIZE = "target_size";

    /**
     * A size in pixels; the components are in diffusers' order (height first), the text form is width first.
     *
     * @param height pixels, at least 1 for a valid request ({@link #validate})
     * @param width  pixels, at least 1
     */
    public record Size(int height, int width) {
        /**
         * Reads {@code WxH}, width first as A1111's {@code Size} (e.g. {@code 768x1024}: width 768, height 1024;
         * {@code X} accepted).
         *
         * @throws IllegalArgumentException naming what is wrong, when the text is not two integers around an x
         */
        public static Size parse(String text) {
            int[] v = two(text, "[xX]", "WxH (width x height in pixels, e.g. 768x1024)");
            return new Size(v[1], v[0]);
        }

        /** Both numbers named, for messages that a JSON [h, w] and a text WxH user both read right. */
        public String describe() {
            return "height " + height + ", width " + width;
        }

        /** The text form {@link #parse} reads: {@code WxH}, width first. */
        @Override
        public String toString() {
            return width + "x" + height;
        }
    }

    /**
     * A crop's top-left corner in pixels.
     *
     * @param top  pixels from the top, at least 0 for a valid request
     * @param left pixels from the left, at least 0
     */
    public record Crop(int top, int left) {
        /** diffusers' default: no crop. */
        public static final Crop NONE = new Crop(0, 0);

        /**
         * Reads {@code TOP,LEFT} (e.g. {@code 0,256}).
         *
         * @throws IllegalArgumentException naming what is wrong, when the text is not two integers around a comma
         */
        public static Crop parse(String text) {
            int[] v = two(text, ",", "TOP,LEFT (pixels, e.g. 0,256)");
            return new Crop(v[0], v[1]);
        }

        @Override
        public String toString() {
            return top + "," + left;
        }
    }

    /** The micro-conditioning of these parts, or null when none is set (every default). */
    public static MicroConditioning of(Size originalSize, Crop cropTopLeft, Size targetSize) {
        return originalSize == null && cropTopLeft == null && targetSize == null ? null
                : new MicroConditioning(originalSize, cropTopLeft, targetSize);
    }

    /**
     * The UNet's {@code time_ids} row for an image of {@code height x width} pixels (diffusers
     * {@code _get_add_time_ids}: {@code original_size + crops_coords_top_left + target_size}), the defaults filled.
     *
     * @param m the request's micro-conditioning, or null (every default)
     * @return {@code [originalH, originalW, cropTop, cropLeft, targetH, targetW]}
     * @throws IllegalArgumentException if a size is not positive or a crop coordinate negative (a request that passed
     *                                  {@link #validate} has neither)
     */
    public static float[] timeIds(MicroConditioning m, int height, int width) {
        Size o = m == null || m.originalSize == null ? new Size(height, width) : m.originalSize;
        Crop c = m == null || m.cropTopLeft == null ? Crop.NONE : m.cropTopLeft;
        Size t = m == null || m.targetSize == null ? new Size(height, width) : m.targetSize;
        return AddedConditioning.timeIds(o.height, o.width, c.top, c.left, t.height, t.width);
    }

    /** Adds an error naming the field for a size that is not positive or a crop coordinate that is negative. */
    public void validate(List<FieldError> errors) {
        checkSize(errors, ORIGINAL_SIZE, originalSize);
        if (cropTopLeft != null && (cropTopLeft.top < 0 || cropTopLeft.left < 0)) {
            errors.add(new FieldError(CROPS_COORDS_TOP_LEFT, "must be [top, left], two integers of at least 0 pixels, got "
                    + cropTopLeft));
        }
        checkSize(errors, TARGET_SIZE, targetSize);
    }

    private static void checkSize(List<FieldError> errors, String field, Size s) {
        if (s != null && (s.height < 1 || s.width < 1)) {
            errors.add(new FieldError(field, "must be a height and a width of at least 1 pixel each, got " + s.describe()));
        }
    }

    /**
     * The errors of a request that sets micro-conditioning on a model without it: one per part set, naming its field.
     *
     * @param model the model's name, for the message
     */
    public List<FieldError> refusedBy(String model) {
        List<FieldError> errors = new ArrayList<>();
        String why = "is SDXL's size conditioning and applies to SDXL models only; " + model + " is not one (got ";
        if (originalSize != null) {
            errors.add(new FieldError(ORIGINAL_SIZE, why + originalSize.describe() + "): leave it unset"));
        }
        if (cropTopLeft != null) {
            errors.add(new FieldError(CROPS_COORDS_TOP_LEFT, why + cropTopLeft + "): leave it unset"));
        }
        if (targetSize != null) {
            errors.add(new FieldError(TARGET_SIZE, why + targetSize.describe() + "): leave it unset"));
        }
        return errors;
    }

    /**
     * The infotext fields of the parts that differ from the defaults for an image of {@code height x width}, in the
     * order of the time ids: {@code Original size: 768x1024}, {@code Crop top left: 0,256}, {@code Target size:
     * 1024x1024} (sizes width first, as {@code Size}; the crop top first); none when every part is the default, so
     * default SDXL infotexts stay A1111's.
     *
     * @param m the request's micro-conditioning, or null
     */
    public static Map<String, String> infotextFields(MicroConditioning m, int height, int width) {
        Map<String, String> out = new LinkedHashMap<>();
        if (m == null) {
            return out;
        }
        Size image = new Size(height, width);
        if (m.originalSize != null && !m.originalSize.equals(image)) {
            out.put("Original size", m.originalSize.toString());
        }
        if (m.cropTopLeft != null && !m.cropTopLeft.equals(Crop.NONE)) {
            out.put("Crop top left", m.cropTopLeft.toString());
        }
        if (m.targetSize != null && !m.targetSize.equals(image)) {
            out.put("Target size", m.targetSize.toString());
        }
        return out;
    }

    /** Two integers of {@code text} around {@code separator} (a regex), else an error quoting the text and the form. */
    private static int[] two(String text, String separator, String form) {
        String[] parts = text == null ? new String[0] : text.trim().split("\\s*" + separator + "\\s*", -1);
        if (parts.length == 2) {
            try {
                return new int[] {Integer.parseInt(parts[0]), Integer.parseInt(parts[1])};
            } catch (NumberFormatException e) {
                // reported below
            }
        }
        throw new IllegalArgumentException("must be " + form + ", got '" + text + "'");
    }
}
