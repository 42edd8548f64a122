package dev.tenstep.web;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.tenstep.pipeline.FieldError;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.InvalidRequestException;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;

import dev.tenstep.pipeline.prompt.PromptSyntax;
import dev.tenstep.sampling.RngKind;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;

/**
 * Parses JSON request bodies into {@link GenerationRequest}s. Type errors (a non-numeric
 * {@code cfg_scale}, a fractional {@code steps}, an unknown sampler) and values that do not fit
 * the field's type ({@code steps: 99999999999999999999}, {@code seed: 1e30}) are collected per
 * field, quoting what was sent, and thrown as one {@link InvalidRequestException}; range checks
 * are the pipeline's ({@code resolve}). Numbers are read exactly (as decimals), so nothing is
 * silently rounded or clamped.
 */
final class Requests {
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .nodeFactory(JsonNodeFactory.withExactBigDecimals(true))
            .build();
    /** Seeds of the API: -1 (random) or 0 .. Long.MAX_VALUE. */
    static final String SEED_RANGE = "must be an integer from 0 to " + Long.MAX_VALUE + ", or -1 for a random seed";

    private Requests() {
    }

    /** Field names of the two APIs: ours ({@code sampler}, {@code schedule}) and A1111's. */
    record Names(String sampler, String schedule) {
        static final Names NATIVE = new Names("sampler", "schedule");
        static final Names A1111 = new Names("sampler_name", "scheduler");
    }

    /**
     * The request body as a JSON object.
     *
     * @throws InvalidRequestException naming {@code body} when it is empty (as A1111's FastAPI answers "field
     *                                 required": an empty body is not a request for every default; {@code {}} is),
     *                                 not JSON or not an object
     */
    static JsonNode body(String text) {
        if (text == null || text.isBlank()) {
            throw InvalidRequestException.of("body", "is empty; send a JSON object ({} for every default)");
        }
        try {
            JsonNode n = JSON.readTree(text);
            if (n == null || !n.isObject()) {
                throw InvalidRequestException.of("body", "must be a JSON object");
            }
            return n;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw InvalidRequestException.of("body", "not valid JSON (" + e.getOriginalMessage() + ")");
        }
    }

    /** Builds the request; every field is optional (defaults of {@link GenerationRequest#of}). */
    static GenerationRequest parse(JsonNode b, Names names) {
        List<FieldError> errors = new ArrayList<>();
        String prompt = text(b, "prompt", errors);
        String negative = text(b, "negative_prompt", errors);
        Integer steps = int32(b, "steps", errors);
        Double cfg = number(b, "cfg_scale", errors);
        Long seed = seed(b, errors);
        Integer width = int32(b, "width", errors);
        Integer height = int32(b, "height", errors);
        Double gamma = number(b, "gamma", errors);
        String samplerText = text(b, names.sampler(), errors);
        String samplerField = names.sampler();
        if ((samplerText == null || samplerText.isBlank()) && names == Names.A1111) {
            // older A1111 clients send the sampler as sampler_index (a name, despite the field's name)
            samplerText = text(b, "sampler_index", errors);
            samplerField = "sampler_index";
        }
        SamplerKind sampler = SamplerKind.DEFAULT;
        if (samplerText != null && !samplerText.isBlank()) {
            try {
                sampler = SamplerKind.byName(samplerText);
            } catch (IllegalArgumentException e) {
                errors.add(new FieldError(samplerField, e.getMessage()));
            }
        }
        String scheduleText = text(b, names.schedule(), errors);
        ScheduleKind schedule = null;
        // A1111's "Automatic" scheduler means the sampler's own default
        if (scheduleText != null && !scheduleText.isBlank() && !scheduleText.equalsIgnoreCase("automatic")) {
            try {
                schedule = ScheduleKind.byName(scheduleText);
            } catch (IllegalArgumentException e) {
                errors.add(new FieldError(names.schedule(), e.getMessage()));
            }
        }
        PromptSyntax syntax = null;
        String syntaxText = text(b, "prompt_syntax", errors);
        if (syntaxText != null && !syntaxText.isBlank()) {
            try {
                syntax = PromptSyntax.parse(syntaxText);
            } catch (IllegalArgumentException e) {
                errors.add(new FieldError("prompt_syntax", e.getMessage()));
            }
        }
        Integer clipSkip = int32(b, "clip_skip", errors);
        RngKind rng = null;
        String rngText = text(b, "rng", errors);
        if (rngText != null && !rngText.isBlank()) {
            try {
                rng = RngKind.parse(rngText);
            } catch (IllegalArgumentException e) {
                errors.add(new FieldError("rng", e.getMessage()));
            }
        }
        if (!errors.isEmpty()) {
            throw new InvalidRequestException(errors);
        }
        return new GenerationRequest(prompt, negative,
                steps == null ? GenerationRequest.DEFAULT_STEPS : steps,
                cfg == null ? GenerationRequest.DEFAULT_CFG : cfg,
                seed == null ? -1 : seed, sampler, schedule, gamma, width, height, syntax, clipSkip, rng);
    }

    /**
     * A1111 request fields this product cannot honour, at values that would change the picture: each is a
     * {@link FieldError} naming the field (at their no-op values they are accepted). Covers {@code enable_hr},
     * {@code restore_faces}, {@code tiling}, {@code styles}, variation seeds, seed resizing, a refiner, DDIM
     * {@code eta}, and {@code override_settings} other than the ones {@link A1111Settings} applies.
     */
    static List<FieldError> unhonoured(JsonNode b) {
        List<FieldError> errors = new ArrayList<>();
        for (String flag : List.of("enable_hr", "restore_faces", "tiling")) {
            JsonNode n = b.get(flag);
            if (n != null && n.asBoolean(false)) {
                errors.add(new FieldError(flag, "is not supported by this server (only false is accepted)"));
            }
        }
        JsonNode styles = b.get("styles");
        if (styles != null && !styles.isNull() && !(styles.isArray() && styles.isEmpty())) {
            errors.add(new FieldError("styles", "this server has no styles (send [] or leave it out), got " + styles));
        }
        for (String zero : List.of("subseed_strength", "seed_resize_from_h", "seed_resize_from_w", "eta")) {
            JsonNode n = b.get(zero);
            if (n != null && n.isNumber() && n.asDouble() > 0) {
                errors.add(new FieldError(zero, "is not supported by this server (only 0 or -1 is accepted), got " + n));
            }
        }
        JsonNode refiner = b.get("refiner_checkpoint");
        if (refiner != null && refiner.isTextual() && !refiner.asText().isBlank()) {
            errors.add(new FieldError("refiner_checkpoint", "refiners are not supported by this server"));
        }
        return errors;
    }

    static Job.Preview preview(JsonNode b) {
        JsonNode n = b.get("preview");
        Job.Preview p = Job.Preview.parse(n == null || n.isNull() ? null : n.asText());
        if (p == null) {
            throw InvalidRequestException.of("preview", "must be \"approx\", \"vae\" or \"none\"");
        }
        return p;
    }

    /** What the client sent, for messages: the JSON text of the value (strings quoted). */
    private static String sent(JsonNode n) {
        return n.isBigDecimal() ? n.decimalValue().toString() : n.toString();
    }

    /** The exact decimal value of a JSON number or numeric string, or null. */
    private static BigDecimal decimal(JsonNode n) {
        if (n.isNumber()) {
            return n.isFloatingPointNumber() && !n.isBigDecimal()
                    ? (Double.isFinite(n.asDouble()) ? BigDecimal.valueOf(n.asDouble()) : null)
                    : n.decimalValue();
        }
        if (n.isTextual()) {
            String t = n.asText().trim();
            if (t.length() <= 100) {
                try {
                    return new BigDecimal(t);
                } catch (NumberFormatException e) {
                    // not a number
                }
            }
        }
        return null;
    }

    static String text(JsonNode b, String field, List<FieldError> errors) {
        JsonNode n = b.get(field);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isTextual()) {
            errors.add(new FieldError(field, "must be a string"));
            return null;
        }
        return n.asText();
    }

    /**
     * An integer field (a JSON integer, an integral number such as {@code 20.0}, or a numeric
     * string); a fractional value or one beyond the 64-bit range is an error quoting what was sent.
     */
    static Long integer(JsonNode b, String field, List<FieldError> errors) {
        JsonNode n = b.get(field);
        if (n == null || n.isNull() || (n.isTextual() && n.asText().isBlank())) {
            return null;
        }
        BigDecimal d = decimal(n);
        if (d == null || (d.signum() != 0 && d.stripTrailingZeros().scale() > 0)) {
            errors.add(new FieldError(field, "must be an integer, got " + sent(n)));
            return null;
        }
        // integer digits: precision - scale; more than 19 cannot be a long (checked before any big conversion)
        if (d.signum() != 0 && d.precision() - d.scale() > 19) {
            errors.add(new FieldError(field, "out of range, got " + sent(n)));
            return null;
        }
        try {
            return d.toBigInteger().longValueExact();
        } catch (ArithmeticException e) {
            errors.add(new FieldError(field, "out of range, got " + sent(n)));
            return null;
        }
    }

    /** An integer field of a 32-bit setting (steps, sizes): beyond the int range is an error quoting what was sent. */
    static Integer int32(JsonNode b, String field, List<FieldError> errors) {
        int before = errors.size();
        Long v = integer(b, field, errors);
        if (v == null) {
            return null;
        }
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            errors.add(new FieldError(field, "out of range, got " + sent(b.get(field))));
            return null;
        }
        return errors.size() == before ? v.intValue() : null;
    }

    /** {@code seed}: an integer from 0 to Long.MAX_VALUE, or -1 for random (A1111's convention). */
    static Long seed(JsonNode b, List<FieldError> errors) {
        List<FieldError> own = new ArrayList<>();
        Long v = integer(b, "seed", own);
        if (!own.isEmpty() || (v != null && v < -1)) {
            errors.add(new FieldError("seed", SEED_RANGE + ", got " + sent(b.get("seed"))));
            return null;
        }
        return v;
    }

    static Double number(JsonNode b, String field, List<FieldError> errors) {
        JsonNode n = b.get(field);
        if (n == null || n.isNull() || (n.isTextual() && n.asText().isBlank())) {
            return null;
        }
        BigDecimal d = decimal(n);
        if (d != null) {
            double v = d.doubleValue();
            if (Double.isFinite(v)) {
                return v;
            }
            errors.add(new FieldError(field, "out of range, got " + sent(n)));
            return null;
        }
        errors.add(new FieldError(field, "must be a number, got " + sent(n)));
        return null;
    }
}
