package dev.tenstep.web;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.deser.std.StdDeserializer;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.tenstep.pipeline.FieldError;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.InvalidRequestException;

import java.io.IOException;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;

/**
 * Binds JSON request bodies to request records (Jackson databind; {@link Txt2ImgBody},
 * {@link A1111Txt2ImgBody}, ...). The records' fields use the deserializers here, which take what
 * clients send as A1111 does (an integral {@code 20.0} or a numeric string {@code "64"} as an
 * integer) and read numbers exactly (as decimals), so nothing is silently rounded or clamped. A value
 * of the wrong type (a non-numeric {@code cfg_scale}, a fractional {@code steps}) or one that does not
 * fit the field's type ({@code steps: 99999999999999999999}, {@code seed: 1e30}) is not thrown at once:
 * it is collected as a {@link FieldError} naming the field and quoting what was sent, so one answer
 * names every bad field. Range checks are the pipeline's ({@code resolve}). Unknown fields are ignored
 * (A1111 clients send many this server has no use for).
 */
final class Requests {
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .nodeFactory(JsonNodeFactory.withExactBigDecimals(true))
            .build();
    /** Seeds of the API: -1 (random) or 0 .. Long.MAX_VALUE. */
    static final String SEED_RANGE = "must be an integer from 0 to " + Long.MAX_VALUE + ", or -1 for a random seed";
    /** The deserialisation attribute under which the field deserializers collect their errors. */
    private static final Object ERRORS = FieldError.class;

    private Requests() {
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

    /**
     * Binds a body to a request record, adding each field's type error to {@code errors}.
     *
     * @param body a JSON object ({@link #body})
     * @param type a record whose fields use this class's deserializers
     * @throws InvalidRequestException naming {@code body} when its shape does not fit the record at all
     */
    static <T> T bind(JsonNode body, Class<T> type, List<FieldError> errors) {
        try {
            return JSON.readerFor(type).withAttribute(ERRORS, errors).readValue(body);
        } catch (IOException e) {
            String at = e instanceof com.fasterxml.jackson.databind.JsonMappingException m && !m.getPath().isEmpty()
                    ? m.getPath().get(0).getFieldName() : "body";
            throw InvalidRequestException.of(at == null ? "body" : at, "has the wrong shape");
        }
    }

    /**
     * Adds an error for every field of {@code body} that none of {@code records} binds: a field this API does not
     * know would change the picture if it were honoured, so it is refused rather than silently ignored (e.g. A1111's
     * {@code sampler_name} sent to the native API, which calls it {@code sampler}). The names are Jackson's own
     * property names of the records ({@code @JsonProperty} included).
     */
    static void refuseUnknown(JsonNode body, List<FieldError> errors, Class<?>... records) {
        java.util.Set<String> known = new java.util.TreeSet<>();
        for (Class<?> r : records) {
            JSON.getDeserializationConfig().introspect(JSON.constructType(r)).findProperties()
                    .forEach(p -> known.add(p.getName()));
        }
        for (java.util.Iterator<String> it = body.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!known.contains(f)) {
                errors.add(new FieldError(f, "unknown field for this API (its fields: " + String.join(", ", known) + ")"));
            }
        }
    }

    /** Throws the collected errors, if any, as one {@link InvalidRequestException}. */
    static void check(List<FieldError> errors) {
        if (!errors.isEmpty()) {
            throw new InvalidRequestException(List.copyOf(errors));
        }
    }

    /** Base of the field deserializers: a problem is collected under the field's name and the value read as absent. */
    private abstract static class Field<T> extends StdDeserializer<T> {
        Field(Class<T> type) {
            super(type);
        }

        @Override
        public final T deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
            String field = p.currentName();
            List<FieldError> own = new ArrayList<>();
            T value = read(ctxt.readTree(p), field, own);
            if (!own.isEmpty()) {
                @SuppressWarnings("unchecked")
                List<FieldError> errors = (List<FieldError>) ctxt.getAttribute(ERRORS);
                if (errors == null) {
                    throw new InvalidRequestException(own);
                }
                errors.addAll(own);
                return null;
            }
            return value;
        }

        /** The value of {@code n} (never JSON null: Jackson gives null for it), or null after adding a problem. */
        abstract T read(JsonNode n, String field, List<FieldError> errors);
    }

    /** A string field: anything else is an error. */
    static final class Text extends Field<String> {
        Text() {
            super(String.class);
        }

        @Override
        String read(JsonNode n, String field, List<FieldError> errors) {
            if (!n.isTextual()) {
                errors.add(new FieldError(field, "must be a string"));
                return null;
            }
            return n.asText();
        }
    }

    /**
     * A yes/no field read as A1111's clients send it: a JSON boolean, {@code "true"}/{@code "false"}, or
     * an integer (0 = false); anything else counts as not sent (the field's default).
     */
    static final class Flag extends Field<Boolean> {
        Flag() {
            super(Boolean.class);
        }

        @Override
        Boolean read(JsonNode n, String field, List<FieldError> errors) {
            if (n.isBoolean()) {
                return n.booleanValue();
            }
            if (n.isTextual() && (n.asText().trim().equals("true") || n.asText().trim().equals("false"))) {
                return n.asText().trim().equals("true");
            }
            return n.isIntegralNumber() ? n.asLong() != 0 : null;
        }
    }

    /**
     * An integer field (a JSON integer, an integral number such as {@code 20.0}, or a numeric string; a
     * blank string is not sent); a fractional value or one beyond the 64-bit range is an error quoting what
     * was sent.
     */
    static final class Int64 extends Field<Long> {
        Int64() {
            super(Long.class);
        }

        @Override
        Long read(JsonNode n, String field, List<FieldError> errors) {
            return integer(n, field, errors);
        }
    }

    /** An integer field of a 32-bit setting (steps, sizes): beyond the int range is an error quoting what was sent. */
    static final class Int32 extends Field<Integer> {
        Int32() {
            super(Integer.class);
        }

        @Override
        Integer read(JsonNode n, String field, List<FieldError> errors) {
            int before = errors.size();
            Long v = integer(n, field, errors);
            if (v == null) {
                return null;
            }
            if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
                errors.add(new FieldError(field, "out of range, got " + sent(n)));
                return null;
            }
            return errors.size() == before ? v.intValue() : null;
        }
    }

    /**
     * A pair of 32-bit integers sent as a JSON array of two ({@code [1024, 768]}; each element read as {@link Int32}):
     * SDXL's {@code original_size}, {@code crops_coords_top_left}, {@code target_size}. Anything else is an error
     * quoting what was sent; the range check is the request's.
     */
    static final class IntPair extends Field<int[]> {
        IntPair() {
            super(int[].class);
        }

        @Override
        int[] read(JsonNode n, String field, List<FieldError> errors) {
            if (!n.isArray() || n.size() != 2) {
                errors.add(new FieldError(field, "must be an array of two integers, got " + sent(n)));
                return null;
            }
            int[] out = new int[2];
            for (int i = 0; i < 2; i++) {
                List<FieldError> own = new ArrayList<>();
                Long v = integer(n.get(i), field, own);
                if (v == null || !own.isEmpty() || v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
                    errors.add(new FieldError(field, "must be an array of two integers, got " + sent(n)));
                    return null;
                }
                out[i] = v.intValue();
            }
            return out;
        }
    }

    /** {@code seed}: an integer from 0 to Long.MAX_VALUE, or -1 for random (A1111's convention). */
    static final class Seed extends Field<Long> {
        Seed() {
            super(Long.class);
        }

        @Override
        Long read(JsonNode n, String field, List<FieldError> errors) {
            List<FieldError> own = new ArrayList<>();
            Long v = integer(n, field, own);
            if (!own.isEmpty() || (v != null && v < -1)) {
                errors.add(new FieldError(field, SEED_RANGE + ", got " + sent(n)));
                return null;
            }
            return v;
        }
    }

    /** A number field (a JSON number or a numeric string; a blank string is not sent); beyond the double range is an error. */
    static final class Decimal extends Field<Double> {
        Decimal() {
            super(Double.class);
        }

        @Override
        Double read(JsonNode n, String field, List<FieldError> errors) {
            if (n.isTextual() && n.asText().isBlank()) {
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

    /** An integer value (see {@link Int64}), or null when blank or after adding a problem. */
    private static Long integer(JsonNode n, String field, List<FieldError> errors) {
        if (n.isTextual() && n.asText().isBlank()) {
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
}
