package dev.tenstep.web;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.annotation.JsonUnwrapped;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import dev.tenstep.pipeline.FieldError;
import dev.tenstep.pipeline.InvalidRequestException;
import dev.tenstep.pipeline.ModelCatalog;
import io.javalin.Javalin;
import io.javalin.http.Context;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

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
            ctx.json(WebApp.emptyObject());
        });
        app.get("/api/models", ctx -> ctx.json(state(models)));
        app.post("/api/model", this::switchModel);
    }

    /** {@code POST /api/model}: 200 with {@link #state} once switched; 400 naming {@code model}; 500 when the load failed. */
    private void switchModel(Context ctx) throws InterruptedException {
        List<FieldError> errors = new ArrayList<>();
        String sent = Requests.bind(Requests.body(ctx.body()), ModelChoice.class, errors).model();
        if (!errors.isEmpty() || sent == null || sent.isBlank()) {
            throw InvalidRequestException.of("model", "give the title of a model from GET /api/models");
        }
        ModelCatalog.Entry target = models.find(sent)
                .orElseThrow(() -> InvalidRequestException.of("model", models.unknownProblem(sent)));
        models.switchTo(target);
        ctx.json(state(models));
    }

    /** The body of {@code POST /api/model}: the title (or A1111 name) of the model to switch to. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    record ModelChoice(@JsonDeserialize(using = Requests.Text.class) String model) {
    }

    /**
     * One checkpoint as A1111 lists it ({@code GET /sdapi/v1/sd-models}).
     *
     * @param hash   the short hash (10 hex digits), or null when not computed yet
     * @param sha256 the full SHA-256, or null when not computed yet
     * @param config always null: no YAML configs here
     */
    record A1111Model(String title, @JsonProperty("model_name") String modelName, String hash, String sha256,
                      String filename, String config) {
    }

    /**
     * One model as the pages list it: the A1111 fields plus {@code kind} ({@code folder}, {@code file} or {@code ideal})
     * and {@code family} ({@code SD 1.x}, {@code SD 2.x}, {@code SDXL}, {@code SDXL refiner}; null when the listing
     * cannot tell, {@link ModelCatalog#family}).
     */
    record ListedModel(@JsonUnwrapped A1111Model entry, String kind, String family) {
    }

    /**
     * The pages' view ({@code GET /api/models}).
     *
     * @param model       title of the resident model
     * @param switchingTo title of the model a pending switch loads, or null
     */
    record ModelsState(String model, @JsonProperty("switching_to") String switchingTo, List<ListedModel> models) {
    }

    static A1111Model a1111(ModelCatalog.Entry e) {
        return new A1111Model(e.title(), e.modelName(), e.hash(), e.sha256(), e.filename(), null);
    }

    static ModelsState state(ModelSwitcher models) {
        return new ModelsState(models.current().title(), models.switchingTo(), models.entries().stream()
                .map(e -> new ListedModel(a1111(e), e.kind().name().toLowerCase(Locale.ROOT), e.family())).toList());
    }
}
