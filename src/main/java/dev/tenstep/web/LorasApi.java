package dev.tenstep.web;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tenstep.pipeline.LoraCatalog;
import io.javalin.Javalin;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The LoRA list as AUTOMATIC1111's built-in Lora extension serves it ({@code extensions-builtin/Lora/scripts/
 * lora_script.py}): {@code GET /sdapi/v1/loras}, one {@code {"name", "alias", "path", "metadata"}} per file of the
 * LoRA folder ({@code create_lora_json}), and {@code POST /sdapi/v1/refresh-loras}, which rescans the folder and
 * answers {@code null} as A1111's does ({@code list_available_networks()} returns nothing). Registered by
 * {@link WebApp}; without a folder the list is empty.
 *
 * @param catalog the server's LoRA folder (shared with every model it loads), or null
 */
record LorasApi(LoraCatalog catalog) implements WebApp.Routes {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Override
    public void register(Javalin app) {
        app.get(A1111Api.PREFIX + "/loras", ctx -> ctx.json(list()));
        app.post(A1111Api.PREFIX + "/refresh-loras", ctx -> {
            if (catalog != null) {
                catalog.refresh();
            }
            ctx.contentType("application/json").result("null");
        });
    }

    /**
     * One LoRA as A1111 lists it.
     *
     * @param name     the file name without {@code .safetensors}: what {@code <lora:NAME:...>} names
     * @param alias    kohya's {@code ss_output_name}, else the name
     * @param path     the file's absolute path
     * @param metadata the header's {@code __metadata__}, values that hold a JSON object parsed as A1111's
     *                 {@code read_metadata_from_safetensors} does (e.g. {@code ss_network_args}), keys sorted
     */
    record A1111Lora(String name, String alias, String path, Map<String, JsonNode> metadata) {
    }

    List<A1111Lora> list() {
        if (catalog == null) {
            return List.of();
        }
        return catalog.entries().stream().map(e -> new A1111Lora(e.name(), e.alias(),
                e.path().toAbsolutePath().normalize().toString(), metadata(e.metadata()))).toList();
    }

    /** A1111 parses a metadata value that starts with "{" as JSON, keeping the string when it is not valid JSON. */
    static Map<String, JsonNode> metadata(Map<String, String> raw) {
        Map<String, JsonNode> out = new TreeMap<>();
        raw.forEach((k, v) -> {
            JsonNode node = JsonNodeFactory.instance.textNode(v);
            if (v.startsWith("{")) {
                try {
                    JsonNode parsed = JSON.readTree(v);
                    if (parsed instanceof ObjectNode) {
                        node = parsed;
                    }
                } catch (java.io.IOException ignored) {
                    // not JSON: kept as the string, as A1111 keeps it
                }
            }
            out.put(k, node);
        });
        return out;
    }
}
