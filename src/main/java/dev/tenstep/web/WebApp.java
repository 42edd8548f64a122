package dev.tenstep.web;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tenstep.pipeline.FieldError;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.InvalidRequestException;
import dev.tenstep.pipeline.prompt.PromptSyntax;
import dev.tenstep.sampling.RngKind;
import dev.tenstep.sampling.SamplerKind;
import io.javalin.Javalin;
import io.javalin.http.HttpResponseException;
import io.javalin.http.staticfiles.Location;
import io.javalin.rendering.template.JavalinThymeleaf;
import org.eclipse.jetty.http.UriCompliance;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.thymeleaf.TemplateEngine;
import org.thymeleaf.templatemode.TemplateMode;
import org.thymeleaf.templateresolver.ClassLoaderTemplateResolver;

import java.util.ArrayList;
import java.util.List;

/**
 * The web front end: builds the Javalin app from its dependencies and returns it unstarted
 * ({@code serve} starts it; tests use {@code JavalinTest}). A thin adapter: requests become
 * {@link GenerationRequest}s queued on the {@link JobQueue}; nothing here runs a model.
 *
 * <p>The routes live in parts: {@link Pages} (HTML pages and the outputs file route),
 * {@link JobsApi} (the JSON jobs API and its event streams), {@link A1111Api} and
 * {@link A1111Extras} (the {@code /sdapi/v1} subset), {@link LorasApi} (the LoRA list) and {@link ModelsApi} (model list and switch). Static files are served from {@code /static/*}. Every error is mapped
 * to JSON in {@link #errors}, the one place where exceptions become responses; no response carries
 * a stack trace.
 */
public final class WebApp {
    private static final Logger LOG = LoggerFactory.getLogger(WebApp.class);

    private WebApp() {
    }

    /** One part of the app: adds its routes (and nothing else) to the app. */
    interface Routes {
        void register(Javalin app);
    }

    /**
     * Builds the app serving the queue's model only (nothing to switch to).
     *
     * @param queue the job queue of the loaded model
     * @param store the outputs folder (gallery, file route)
     * @return the configured, unstarted app
     */
    public static Javalin create(JobQueue queue, OutputStore store) {
        return create(queue, store, ModelSwitcher.single(queue));
    }

    /**
     * Builds the app.
     *
     * @param queue  the job queue of the resident model
     * @param store  the outputs folder (gallery, file route)
     * @param models the model list and switch ({@code serve} gives it the models folder and a loader)
     * @return the configured, unstarted app
     */
    public static Javalin create(JobQueue queue, OutputStore store, ModelSwitcher models) {
        return create(queue, store, models, null);
    }

    /**
     * Builds the app with a LoRA folder ({@code /sdapi/v1/loras}, {@code /sdapi/v1/refresh-loras}; {@code serve}
     * gives every model it loads the same folder).
     *
     * @param loras the LoRA folder, or null for none (an empty list)
     */
    public static Javalin create(JobQueue queue, OutputStore store, ModelSwitcher models, dev.tenstep.pipeline.LoraCatalog loras) {
        Javalin app = Javalin.create(config -> {
            config.showJavalinBanner = false;
            config.fileRenderer(new JavalinThymeleaf(templateEngine()));
            config.staticFiles.add(sf -> {
                sf.hostedPath = "/static";
                sf.directory = "web/static";
                sf.location = Location.CLASSPATH;
            });
            // let encoded separators reach the file route, which answers 404 (instead of Jetty's 400)
            config.jetty.modifyHttpConfiguration(h -> h.setUriCompliance(UriCompliance.LEGACY));
        });
        // the A1111 options of this server (/sdapi/v1/options): defaults for requests that leave them unset
        java.util.concurrent.atomic.AtomicReference<A1111Settings> settings =
                new java.util.concurrent.atomic.AtomicReference<>(A1111Settings.DEFAULT);
        // the txt2img calls in progress, for /sdapi/v1/interrupt and /skip
        A1111Calls calls = new A1111Calls(queue);
        for (Routes part : List.of(new Pages(queue, store, models), new JobsApi(queue, store, models),
                new A1111Api(queue, store, settings, calls, models), new A1111Extras(queue, settings, calls, models),
                new ModelsApi(models))) {
            part.register(app);
        }
        new LorasApi(loras).register(app);
        errors(app);
        return app;
    }

    static TemplateEngine templateEngine() {
        ClassLoaderTemplateResolver r = new ClassLoaderTemplateResolver();
        r.setPrefix("web/templates/");
        r.setSuffix(".html");
        r.setTemplateMode(TemplateMode.HTML);
        r.setCharacterEncoding("UTF-8");
        r.setCacheable(true);
        TemplateEngine engine = new TemplateEngine();
        engine.setTemplateResolver(r);
        return engine;
    }

    /** The one place where exceptions become responses. */
    private static void errors(Javalin app) {
        app.exception(InvalidRequestException.class, (e, ctx) -> {
            // A1111's API (FastAPI) answers validation errors with 422; its clients expect that
            ctx.status(ctx.path().startsWith(A1111Api.PREFIX + "/") ? 422 : 400)
                    .json(new ApiError("invalid request: " + e.getMessage(), e.fieldErrors()));
        });
        app.exception(QueueFullException.class, (e, ctx) -> ctx.status(429).json(ApiError.of(e.getMessage())));
        app.exception(ResidentModel.SwitchingException.class, (e, ctx) -> ctx.status(503).header("Retry-After", "5")
                .json(ApiError.of(e.getMessage())));
        app.exception(ApiException.class, (e, ctx) -> ctx.status(e.status()).json(ApiError.of(e.getMessage())));
        app.exception(HttpResponseException.class, (e, ctx) -> ctx.status(e.getStatus()).json(ApiError.of(e.getMessage())));
        app.exception(Exception.class, (e, ctx) -> {
            LOG.error("{} {} failed", ctx.method(), ctx.path(), e);
            ctx.status(500).json(ApiError.of("internal server error (see the server log)"));
        });
    }

    /**
     * The body of every error response.
     *
     * @param error  what went wrong, in one line
     * @param errors for an invalid request: each field and its problem; left out otherwise
     */
    record ApiError(String error, @JsonInclude(JsonInclude.Include.NON_NULL) List<FieldError> errors) {
        static ApiError of(String error) {
            return new ApiError(error, null);
        }
    }

    /** The body {@code {}} of calls that answer with nothing (A1111's {@code /interrupt}, {@code /skip}, ...). */
    static ObjectNode emptyObject() {
        return JsonNodeFactory.instance.objectNode();
    }

    /**
     * A sampler as the pages and {@code /api/info} list it.
     *
     * @param value    its id (the request's {@code sampler})
     * @param label    its display name
     * @param schedule its default schedule
     * @param gamma    its default gamma, only for the sampler that has one (GE); left out for the others
     */
    record SamplerChoice(String value, String label, String schedule,
                         @JsonInclude(JsonInclude.Include.NON_NULL) Double gamma) {
    }

    /** One choice of a form's list: {@code value} as the request takes it, {@code label} as the page shows it. */
    record Choice(String value, String label) {
    }

    /**
     * The samplers as the pages and {@code /api/info} list them: {@code value} (id), {@code label}
     * (display name), {@code schedule} (its default) and, for the one sampler that has it (GE), {@code gamma} (its default), so the forms
     * and scripts hold no list of their own.
     */
    static List<SamplerChoice> samplerList() {
        List<SamplerChoice> l = new ArrayList<>();
        for (SamplerKind k : SamplerKind.values()) {
            // only GE has a gamma: the forms disable the field for the others
            l.add(new SamplerChoice(k.id(), k.displayName(), k.defaultSchedule().id(),
                    k.defaultGamma().isPresent() ? k.defaultGamma().getAsDouble() : null));
        }
        return l;
    }

    /**
     * The RNGs as the forms and {@code /api/info} list them: {@code value} (the request's {@code rng}) and
     * {@code label}; the default is {@link RngKind#DEFAULT}.
     */
    static List<Choice> rngList() {
        List<Choice> l = new ArrayList<>();
        for (RngKind k : RngKind.values()) {
            String label = switch (k) {
                case PHILOX -> "philox (GPU torch.randn, A1111's default)";
                case TORCH_CPU -> "torch-cpu (CPU torch.randn, diffusers)";
                case TENSTEP -> "tenstep (own, before 0.2)";
            };
            l.add(new Choice(k.id(), label));
        }
        return l;
    }

    /** The prompt syntaxes as the forms and {@code /api/info} list them: {@code value} and {@code label}. */
    static List<Choice> promptSyntaxList() {
        List<Choice> l = new ArrayList<>();
        for (PromptSyntax s : PromptSyntax.values()) {
            String label = switch (s) {
                case A1111 -> "A1111 (emphasis, editing)";
                case PLAIN -> "plain (brackets are text)";
            };
            l.add(new Choice(s.id(), label));
        }
        return l;
    }

}
