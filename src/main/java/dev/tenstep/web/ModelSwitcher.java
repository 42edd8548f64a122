package dev.tenstep.web;

import dev.tenstep.pipeline.TextToImage;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.ResolvedRequest;
import dev.tenstep.pipeline.GenerationResult;
import dev.tenstep.pipeline.ModelCatalog;
import dev.tenstep.pipeline.StepProgress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.awt.image.BufferedImage;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;

/**
 * The models a server lists ({@link ModelCatalog}) and the switch of the one resident model
 * between them ({@code POST /sdapi/v1/options {"sd_model_checkpoint": ...}}, {@code POST /api/model}).
 *
 * <p>A switch is a {@link ResidentModel#switchModel barrier on the resident model}: jobs submitted before it
 * finish on the old model; then the old model is closed (one model resident: two Stable Diffusion
 * models do not fit the memory of many machines) and the new one is loaded by the {@link Loader}
 * that {@code serve} injects (the web layer does not know how models are opened). Should the load
 * fail, the old model is loaded again and served on, and the switch answers with the error. Jobs
 * submitted while a switch is pending wait for it ({@code /sdapi/v1/txt2img}) or are refused with
 * 503 ({@code /api/txt2img}), so no job runs on a model its request was not checked against.
 */
public final class ModelSwitcher implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ModelSwitcher.class);

    /** Opens a catalog entry for serving. */
    @FunctionalInterface
    public interface Loader {
        /**
         * @return the loaded model, owning its pipeline ({@link ServedModel#owning}: closed when switched away from)
         * @throws RuntimeException with a message naming the problem (a missing file, shapes that
         *                          need a config, a size limit below the model's default size)
         */
        ServedModel load(ModelCatalog.Entry entry);
    }

    private final JobQueue queue;
    private final ModelCatalog catalog;
    private final Loader loader;
    private volatile ModelCatalog.Entry current;

    /**
     * @param queue   the job queue, whose resident model ({@link JobQueue#model}) is {@code current} loaded
     * @param catalog the models to list; {@code current} is pinned to it when it is not inside its folder
     * @param loader  opens a model for a switch
     * @param current the entry of the resident model
     */
    public ModelSwitcher(JobQueue queue, ModelCatalog catalog, Loader loader, ModelCatalog.Entry current) {
        this.queue = queue;
        this.catalog = catalog;
        this.loader = loader;
        this.current = current;
        if (catalog.entries().stream().noneMatch(current::sameModel)) {
            catalog.pin(current);
        }
    }

    /** A server with one model and nothing to switch to (the queue's generator, as the tests start it). */
    static ModelSwitcher single(JobQueue queue) {
        ModelCatalog.Entry only = ModelCatalog.named(queue.model().generator().model().name());
        ModelCatalog c = new ModelCatalog(null);
        return new ModelSwitcher(queue, c, e -> {
            throw new IllegalStateException("this server was started with one model, " + only.title());
        }, only);
    }

    /** The resident model's entry, with its hash once the load has computed it. */
    public ModelCatalog.Entry current() {
        return current.withHash(queue.model().generator().model().modelHash());
    }

    /** The title of the model a pending switch goes to (waiting for earlier jobs, or loading), or null. */
    public String switchingTo() {
        return queue.model().switchingTo();
    }

    /** The catalog, the resident model's entry with its hash once known. */
    public List<ModelCatalog.Entry> entries() {
        ModelCatalog.Entry now = current();
        return catalog.entries().stream().map(e -> e.sameModel(now) ? now : e).toList();
    }

    /** Rescans the models folder; returns {@link #entries()}. */
    public List<ModelCatalog.Entry> refresh() {
        catalog.refresh();
        return entries();
    }

    /**
     * The entry an A1111 checkpoint name denotes ({@link ModelCatalog#find}). A name that matches no
     * entry, or an entry whose file or folder is gone since the last scan, rescans the folder first
     * (a model added or deleted since is then listed or not); an entry still gone after it is
     * empty, as an unknown name (the resident model excepted: it stays loaded).
     */
    public Optional<ModelCatalog.Entry> find(String sent) {
        Optional<ModelCatalog.Entry> found = lookup(sent);
        if (found.isPresent() && present(found.get())) {
            return found;
        }
        refreshQuietly();
        return lookup(sent).filter(this::present);
    }

    private Optional<ModelCatalog.Entry> lookup(String sent) {
        Optional<ModelCatalog.Entry> found = catalog.find(sent);
        return found.isPresent() ? found : entries().stream().filter(e -> e.matches(sent)).findFirst();
    }

    /** Whether a switch to {@code e} can load it: an ideal model, the resident one, or a file or folder that exists. */
    private boolean present(ModelCatalog.Entry e) {
        return e.kind() == ModelCatalog.Kind.IDEAL || e.sameModel(current) || java.nio.file.Files.exists(e.path());
    }

    /** For the options call: null when {@code sent} names a listed model, else the message. */
    String unknownProblem(String sent) {
        return find(sent).isPresent() ? null : "unknown checkpoint '" + sent + "'; this server has "
                + entries().stream().map(e -> "'" + e.title() + "'").collect(Collectors.joining(", "))
                + " (GET /sdapi/v1/sd-models lists them; POST /sdapi/v1/refresh-checkpoints rescans the folder)";
    }

    /**
     * For a request's {@code override_settings}: null when {@code sent} names the model of
     * {@code lease}, else the message. A request does not switch the model: with several clients,
     * switching for one request and back would reload models for every request and race with the
     * other clients' choice; clients switch with the options call first.
     */
    String overrideProblem(String sent, ServedModel leased) {
        Optional<ModelCatalog.Entry> e = find(sent);
        if (e.isEmpty()) {
            return unknownProblem(sent);
        }
        if (e.get().modelName().equals(leased.model().name())) {
            return null;
        }
        return "'" + e.get().title() + "' is not the loaded model ('" + leased.model().name() + "'); a request does not "
                + "switch models: switch first with POST /sdapi/v1/options {\"sd_model_checkpoint\": \"" + e.get().title()
                + "\"}";
    }

    /**
     * Makes {@code target} the resident model, after the jobs submitted before have finished; returns
     * at once when it already is and no switch is pending.
     *
     * @return the entry now resident
     * @throws ApiException         500 naming the model and the problem when it could not be loaded
     *                              (the old model is served on)
     * @throws InterruptedException when interrupted while waiting for earlier jobs (nothing changed)
     */
    public ModelCatalog.Entry switchTo(ModelCatalog.Entry target) throws InterruptedException {
        if (target.sameModel(current) && queue.model().switchingTo() == null && !(queue.model().generator().model() instanceof Unloaded)) {
            return current();
        }
        AtomicReference<String> failure = new AtomicReference<>();
        queue.model().switchModel(target.title(), old -> {
            if (target.sameModel(current) && !(old.model() instanceof Unloaded)) {
                return old;
            }
            ModelCatalog.Entry previous = current;
            LOG.info("switching the model from {} to {}", previous.title(), target.title());
            old.close();
            try {
                ServedModel next = loader.load(target);
                current = target;
                refreshQuietly();
                LOG.info("now serving {}", target.title());
                return next;
            } catch (RuntimeException | OutOfMemoryError e) {
                String why = message(e);
                // one line: the message says what is wrong; the stack trace only helps a developer
                LOG.warn("could not load {}: {}{}", target.title(), why, causeOf(e));
                LOG.debug("could not load {}", target.title(), e);
                if (old.model() instanceof Unloaded) {
                    failure.set("could not load '" + target.title() + "': " + why + "; no model is loaded");
                    return old;
                }
                try {
                    ServedModel back = loader.load(previous);
                    failure.set("could not load '" + target.title() + "': " + why + "; still serving '"
                            + previous.title() + "'");
                    return back;
                } catch (RuntimeException | OutOfMemoryError e2) {
                    LOG.error("could not load {} again either: {}{}", previous.title(), message(e2), causeOf(e2));
                    LOG.debug("could not load {} again either", previous.title(), e2);
                    String msg = "could not load '" + target.title() + "': " + why + "; reloading '"
                            + previous.title() + "' failed too: " + message(e2) + "; no model is loaded";
                    failure.set(msg);
                    return ServedModel.of(new Unloaded(previous.modelName(), msg), 512);
                }
            }
        });
        if (failure.get() != null) {
            throw new ApiException(500, failure.get());
        }
        return current();
    }

    private void refreshQuietly() {
        try {
            // the load hashed a single file and cached the hash beside it: list it
            catalog.refresh();
        } catch (RuntimeException e) {
            LOG.warn("could not rescan the models folder: {}", e.getMessage());
        }
    }

    /** For a log line: {@code " (cause: ...)"} with the first line of the cause's message, when it adds to {@code e}'s. */
    private static String causeOf(Throwable e) {
        Throwable c = e.getCause();
        if (c == null || c == e) {
            return "";
        }
        String m = message(c);
        String own = e.getMessage();
        return own != null && own.contains(m) ? "" : " (cause: " + m + ")";
    }

    /** The first line of the message (a load error may carry a multi-line report), or the class name. */
    private static String message(Throwable e) {
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m.lines().findFirst().orElse(m);
    }

    /** Closes the resident model (server shutdown). */
    @Override
    public void close() {
        queue.model().generator().close();
    }

    /**
     * What is resident after a failed switch whose old model could not be loaded again either:
     * every request is refused with 503 naming both failures ({@link #resolve}, the first call a request makes),
     * until a switch succeeds; the model's other work (generate, preview, ...) fails with the same message.
     */
    private static final class Unloaded implements TextToImage {
        private final String name;
        private final String why;

        Unloaded(String name, String why) {
            this.name = name;
            this.why = why;
        }

        private IllegalStateException unloaded() {
            return new IllegalStateException(why);
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public int sizeMultiple() {
            return 8;
        }

        @Override
        public int defaultSize() {
            return 512;
        }

        @Override
        public ResolvedRequest resolve(GenerationRequest request, int maxSize) {
            throw new ApiException(503, why + "; switch to another model (POST /sdapi/v1/options or the page's model list)");
        }

        @Override
        public dev.tenstep.sampling.NoiseSchedule noiseSchedule() {
            throw unloaded();
        }

        @Override
        public long[] latentShape(ResolvedRequest resolved) {
            throw unloaded();
        }

        @Override
        public PromptEmbedding encodePrompt(String prompt, String negativePrompt) {
            throw unloaded();
        }

        @Override
        public ai.djl.ndarray.NDManager newManager() {
            throw unloaded();
        }

        @Override
        public Conditioned condition(ResolvedRequest request, PromptEmbedding embedding, ai.djl.ndarray.NDManager manager) {
            throw unloaded();
        }

        @Override
        public ai.djl.ndarray.NDArray decode(ai.djl.ndarray.NDArray latents) {
            throw unloaded();
        }

        @Override
        public GenerationResult generate(ResolvedRequest request, PromptEmbedding embedding, Options options) {
            throw unloaded();
        }

        @Override
        public BufferedImage preview(StepProgress step, boolean exact) {
            throw unloaded();
        }

        @Override
        public void close() {
        }
    }
}
