package dev.tenstep.web;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import dev.tenstep.pipeline.FieldError;

import java.util.ArrayList;
import java.util.List;

/**
 * The fields of {@code POST /sdapi/v1/txt2img} beyond the shared {@link GenerationBody}, with A1111's names
 * (docs/web.md), bound by {@link Requests#bind} from the same body: every field is optional (null: not sent);
 * others are ignored. Fields this
 * server cannot honour are accepted at their no-op values only ({@link #unhonoured}).
 *
 * @param samplerName      the sampler's A1111 display name or id
 * @param samplerIndex     what older clients send instead of {@code sampler_name} (a name, despite the field's name)
 * @param scheduler        the schedule; {@code Automatic} means the sampler's default
 * @param batchSize        images per batch (1 .. {@link A1111Api#MAX_IMAGES})
 * @param nIter            batches (1 .. {@link A1111Api#MAX_IMAGES}); batch_size x n_iter at most that too
 * @param sendImages       whether the answer carries the images (default true)
 * @param saveImages       whether the images are kept in the outputs folder (A1111's API default: false)
 * @param overrideSettings A1111 options for this call only ({@link A1111Settings#apply})
 * @param restoreAfterwards false: the override settings stay the server's options after the call
 */
@JsonIgnoreProperties(ignoreUnknown = true)
record A1111Txt2ImgBody(@JsonProperty("sampler_name") @JsonDeserialize(using = Requests.Text.class) String samplerName,
                        @JsonProperty("sampler_index") @JsonDeserialize(using = Requests.Text.class) String samplerIndex,
                        @JsonDeserialize(using = Requests.Text.class) String scheduler,
                        @JsonProperty("batch_size") @JsonDeserialize(using = Requests.Int64.class) Long batchSize,
                        @JsonProperty("n_iter") @JsonDeserialize(using = Requests.Int64.class) Long nIter,
                        @JsonProperty("send_images") @JsonDeserialize(using = Requests.Flag.class) Boolean sendImages,
                        @JsonProperty("save_images") @JsonDeserialize(using = Requests.Flag.class) Boolean saveImages,
                        @JsonProperty("override_settings") JsonNode overrideSettings,
                        @JsonProperty("override_settings_restore_afterwards") @JsonDeserialize(using = Requests.Flag.class)
                        Boolean restoreAfterwards,
                        @JsonProperty("restore_faces") @JsonDeserialize(using = Requests.Flag.class) Boolean restoreFaces,
                        @JsonDeserialize(using = Requests.Flag.class) Boolean tiling,
                        JsonNode styles,
                        @JsonProperty("subseed_strength") @JsonDeserialize(using = Requests.Decimal.class) Double subseedStrength,
                        @JsonProperty("seed_resize_from_h") @JsonDeserialize(using = Requests.Decimal.class) Double seedResizeFromH,
                        @JsonProperty("seed_resize_from_w") @JsonDeserialize(using = Requests.Decimal.class) Double seedResizeFromW,
                        @JsonDeserialize(using = Requests.Decimal.class) Double eta,
                        @JsonProperty("refiner_checkpoint") @JsonDeserialize(using = Requests.Text.class) String refinerCheckpoint) {

    /** The sampler field: {@code sampler_name}, or {@code sampler_index} when only that was sent (older clients). */
    GenerationBody.Named samplerField() {
        return blank(samplerName) && samplerIndex != null ? new GenerationBody.Named("sampler_index", samplerIndex)
                : new GenerationBody.Named("sampler_name", samplerName);
    }

    /** The schedule field, {@code scheduler}. */
    GenerationBody.Named scheduleField() {
        return new GenerationBody.Named("scheduler", scheduler);
    }

    /**
     * The fields this product cannot honour, at values that would change the picture: each is a {@link FieldError}
     * naming the field (at their no-op values they are accepted). Covers {@code restore_faces},
     * {@code tiling}, {@code styles}, variation seeds, seed resizing, a refiner and DDIM {@code eta}
     * ({@code override_settings} are {@link A1111Settings#apply}'s).
     */
    List<FieldError> unhonoured() {
        List<FieldError> errors = new ArrayList<>();
        flag("restore_faces", restoreFaces, errors);
        flag("tiling", tiling, errors);
        if (styles != null && !styles.isNull() && !(styles.isArray() && styles.isEmpty())) {
            errors.add(new FieldError("styles", "this server has no styles (send [] or leave it out), got " + styles));
        }
        zero("subseed_strength", subseedStrength, errors);
        zero("seed_resize_from_h", seedResizeFromH, errors);
        zero("seed_resize_from_w", seedResizeFromW, errors);
        zero("eta", eta, errors);
        if (!blank(refinerCheckpoint)) {
            errors.add(new FieldError("refiner_checkpoint", "refiners are not supported by this server"));
        }
        return errors;
    }

    private static void flag(String field, Boolean value, List<FieldError> errors) {
        if (Boolean.TRUE.equals(value)) {
            errors.add(new FieldError(field, "is not supported by this server (only false is accepted)"));
        }
    }

    private static void zero(String field, Double value, List<FieldError> errors) {
        if (value != null && value > 0) {
            errors.add(new FieldError(field, "is not supported by this server (only 0 or -1 is accepted), got "
                    + (value == Math.rint(value) ? Long.toString(value.longValue()) : value.toString())));
        }
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }
}
