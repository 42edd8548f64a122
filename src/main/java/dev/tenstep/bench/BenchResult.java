package dev.tenstep.bench;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tenstep.model.nn.Profiler;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/** The figures of one benchmark, in insertion order; printed as a table or one JSON object. */
public final class BenchResult {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Map<String, Object> figures = new LinkedHashMap<>();
    private Map<String, Profiler.Entry> profile = Map.of();

    void put(String key, Object value) {
        figures.put(key, value);
    }

    void setProfile(Map<String, Profiler.Entry> p) {
        profile = new TreeMap<>(p);
    }

    public Map<String, Object> figures() {
        return Collections.unmodifiableMap(figures);
    }

    /** A number figure, e.g. {@code unet_step_ms_median}. */
    public double number(String key) {
        return ((Number) figures.get(key)).doubleValue();
    }

    /** Profile rows {@code root/kind} (empty without --profile). */
    public Map<String, Profiler.Entry> profile() {
        return profile;
    }

    /** Root call counts: the {@code root/(total)} entries. */
    private long rootCalls(String root) {
        Profiler.Entry e = profile.get(root + "/(total)");
        return e == null ? 1 : Math.max(1, e.calls());
    }

    public String toJson() {
        ObjectNode n = JSON.valueToTree(figures);
        if (!profile.isEmpty()) {
            ObjectNode p = n.putObject("profile");
            for (Map.Entry<String, Profiler.Entry> e : profile.entrySet()) {
                String root = e.getKey().substring(0, e.getKey().indexOf('/'));
                long calls = rootCalls(root);
                ObjectNode row = p.putObject(e.getKey());
                row.put("calls_per_root_call", e.getValue().calls() / (double) calls);
                row.put("self_ms_per_root_call", Bench.round1(e.getValue().selfMs() / calls));
                row.put("total_ms_per_root_call", Bench.round1(e.getValue().totalMs() / calls));
            }
        }
        try {
            return JSON.writeValueAsString(n);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A figure as the table shows it: scalars as they are, records and maps as one line of JSON. */
    private static String cell(Object value) {
        if (value == null || value instanceof Number || value instanceof CharSequence || value instanceof Boolean) {
            return String.valueOf(value);
        }
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            return String.valueOf(value);
        }
    }

    public String toTable() {
        StringBuilder b = new StringBuilder();
        int w = figures.keySet().stream().mapToInt(String::length).max().orElse(10);
        for (Map.Entry<String, Object> e : figures.entrySet()) {
            b.append(String.format("%-" + w + "s  %s%n", e.getKey(), cell(e.getValue())));
        }
        if (!profile.isEmpty()) {
            b.append(String.format("%nprofile (per call of the root module; self = excluding profiled modules inside)%n"));
            b.append(String.format("%-28s %10s %12s %12s %7s%n", "module", "calls", "self ms", "total ms", "self %"));
            for (Map.Entry<String, Profiler.Entry> e : profile.entrySet()) {
                String root = e.getKey().substring(0, e.getKey().indexOf('/'));
                long calls = rootCalls(root);
                Profiler.Entry rootTotal = profile.get(root + "/(total)");
                double rootMs = rootTotal == null ? 0 : rootTotal.totalMs() / calls;
                Profiler.Entry x = e.getValue();
                b.append(String.format("%-28s %10.1f %12.1f %12.1f %6.1f%%%n", e.getKey(), x.calls() / (double) calls,
                        x.selfMs() / calls, x.totalMs() / calls,
                        e.getKey().endsWith("/(total)") || rootMs == 0 ? 100.0 : 100 * x.selfMs() / calls / rootMs));
            }
        }
        return b.toString();
    }
}
