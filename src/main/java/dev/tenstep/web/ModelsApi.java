package dev.tenstep.web;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tenstep.pipeline.InvalidRequestException;
import dev.tenstep.pipeline.ModelCatalog;
import io.javalin.Javalin;
import io.javalin.http.Context;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The model list and switch: {@code GET /sdapi/v1/sd-models} (A1111's fields), {@code POST
 * /sdapi/v1/refresh-checkpoints} (rescan the models folder), and for the pages {@code GET
 * /api/models} and {@code POST /api/model {"model": "<title>"}} (switch; answers once the model is
 * loaded). The A1111 options call switches too ({@link A1111Extras}). Registered by {@link WebApp}.
 */
record ModelsApi(ModelSwitcher models) implements WebApp.Routes {
    @Override
    public void register(Javalin app) {
        app.get(A1111Api.PREFIX + "/sd-models", ctx -> ctx.json(models.entries().stream().map(ModelsApi::a1111).toList()));
        app.post(A1111Api.PREFIX + "/refresh-checkpoints", ctx -> {
            models.refresh();
            ctx.json(Map.of());
        });
        app.get("/api/models", ctx -> ctx.json(state(models)));
        app.post("/api/model", this::switchModel);
    }

    /** {@code POST /api/model}: 200 with {@link #state} once switched; 400 naming {@code model}; 500 when the load failed. */
    private void switchModel(Context ctx) throws InterruptedException {
        JsonNode body = Requests.body(ctx.body());
        JsonNode sent = body.get("model");
        if (sent == null || !sent.isTextual() || sent.asText().isBlank()) {
            throw InvalidRequestException.of("model", "give the title of a model from GET /api/models");
        }
        ModelCatalog.Entry target = models.find(sent.asText())
                .orElseThrow(() -> InvalidRequestException.of("model", models.unknownProblem(sent.asText())));
        models.switchTo(target);
        ctx.json(state(models));
    }

    /** One entry as A1111 lists checkpoints: title, model_name, hash, sha256, filename, config. */
    static Map<String, Object> a1111(ModelCatalog.Entry e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("title", e.title());
        m.put("model_name", e.modelName());
        m.put("hash", e.hash());
        m.put("sha256", e.sha256());
        m.put("filename", e.filename());
        m.put("config", null);
        return m;
    }

    /**
     * The pages' view: {@code model} (title of the resident model), {@code switching_to} (title of
     * the model a pending switch loads, or null) and {@code models} (the A1111 entries plus
     * {@code kind}: folder, file or ideal).
     */
    static Map<String, Object> state(ModelSwitcher models) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", models.current().title());
        m.put("switching_to", models.switchingTo());
        List<Map<String, Object>> list = models.entries().stream().map(e -> {
            Map<String, Object> a = a1111(e);
            a.put("kind", e.kind().name().toLowerCase(java.util.Locale.ROOT));
            return a;
        }).toList();
        m.put("models", list);
        return m;
    }
}
