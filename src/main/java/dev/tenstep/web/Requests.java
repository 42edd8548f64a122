package dev.tenstep.web;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.InvalidRequestException;
import dev.tenstep.pipeline.SamplerPresets;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Parses JSON request bodies into {@link GenerationRequest}s. Type errors (a non-numeric
 * {@code cfg_scale}, an unknown sampler) are collected per field and thrown as one
 * {@link InvalidRequestException}; range checks are the pipeline's ({@code resolve}).
 */
final class Requests {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Requests() {
    }

    /** Field names of the two APIs: ours ({@code sampler}, {@code schedule}) and A1111's. */
    record Names(String sampler, String schedule) {
        static final Names NATIVE = new Names("sampler", "schedule");
        static final Names A1111 = new Names("sampler_name", "scheduler");
    }

    static JsonNode body(String text) {
        if (text == null || text.isBlank()) {
            return JSON.createObjectNode();
        }
        try {
            JsonNode n = JSON.readTree(text);
            if (n == null || !n.isObject()) {
                throw new InvalidRequestException(List.of("body: must be a JSON object"));
            }
            return n;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new InvalidRequestException(List.of("body: not valid JSON (" + e.getOriginalMessage() + ")"));
        }
    }

    /** Builds the request; every field is optional (defaults of {@link GenerationRequest#of}). */
    static GenerationRequest parse(JsonNode b, Names names) {
        List<String> errors = new ArrayList<>();
        String prompt = text(b, "prompt", errors);
        String negative = text(b, "negative_prompt", errors);
        Long steps = integer(b, "steps", errors);
        Double cfg = number(b, "cfg_scale", errors);
        Long seed = integer(b, "seed", errors);
        Long width = integer(b, "width", errors);
        Long height = integer(b, "height", errors);
        Double gamma = number(b, "gamma", errors);
        String samplerText = text(b, names.sampler(), errors);
        String sampler = "ge";
        if (samplerText != null && !samplerText.isBlank()) {
            sampler = SamplerPresets.parse(samplerText);
            if (sampler == null) {
                errors.add(names.sampler() + ": unknown sampler '" + samplerText + "' (valid: "
                        + String.join(", ", SamplerPresets.NAMES) + ")");
            }
        }
        String schedule = text(b, names.schedule(), errors);
        if (schedule != null && (schedule.isBlank() || schedule.equalsIgnoreCase("automatic"))) {
            schedule = null;
        }
        if (schedule != null) {
            schedule = schedule.toLowerCase(Locale.ROOT);
            if (!SamplerPresets.SCHEDULES.contains(schedule)) {
                errors.add(names.schedule() + ": unknown schedule '" + schedule + "' (valid: "
                        + String.join(", ", SamplerPresets.SCHEDULES) + ")");
            }
        }
        if (!errors.isEmpty()) {
            throw new InvalidRequestException(errors);
        }
        return new GenerationRequest(prompt, negative,
                steps == null ? GenerationRequest.DEFAULT_STEPS : clampInt(steps),
                cfg == null ? GenerationRequest.DEFAULT_CFG : cfg,
                seed == null ? -1 : seed, sampler, schedule, gamma,
                width == null ? null : clampInt(width), height == null ? null : clampInt(height));
    }

    static Job.Preview preview(JsonNode b) {
        JsonNode n = b.get("preview");
        Job.Preview p = Job.Preview.parse(n == null || n.isNull() ? null : n.asText());
        if (p == null) {
            throw new InvalidRequestException(List.of("preview: must be \"approx\", \"vae\" or \"none\""));
        }
        return p;
    }

    private static int clampInt(long v) {
        return (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, v));
    }

    static String text(JsonNode b, String field, List<String> errors) {
        JsonNode n = b.get(field);
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isTextual()) {
            errors.add(field + ": must be a string");
            return null;
        }
        return n.asText();
    }

    static Long integer(JsonNode b, String field, List<String> errors) {
        JsonNode n = b.get(field);
        if (n == null || n.isNull() || (n.isTextual() && n.asText().isBlank())) {
            return null;
        }
        if (n.isIntegralNumber() && n.canConvertToLong()) {
            return n.asLong();
        }
        if (n.isNumber() && n.asDouble() == Math.rint(n.asDouble())) {
            return (long) n.asDouble();
        }
        if (n.isTextual()) {
            try {
                return Long.parseLong(n.asText().trim());
            } catch (NumberFormatException e) {
                // reported below
            }
        }
        errors.add(field + ": must be an integer, got " + n);
        return null;
    }

    static Double number(JsonNode b, String field, List<String> errors) {
        JsonNode n = b.get(field);
        if (n == null || n.isNull() || (n.isTextual() && n.asText().isBlank())) {
            return null;
        }
        if (n.isNumber()) {
            return n.asDouble();
        }
        if (n.isTextual()) {
            try {
                double d = Double.parseDouble(n.asText().trim());
                if (Double.isFinite(d)) {
                    return d;
                }
            } catch (NumberFormatException e) {
                // reported below
            }
        }
        errors.add(field + ": must be a number, got " + n);
        return null;
    }
}
