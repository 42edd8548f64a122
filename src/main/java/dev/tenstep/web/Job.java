package dev.tenstep.web;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tenstep.pipeline.GenerationRecord;
import dev.tenstep.pipeline.ResolvedRequest;
import dev.tenstep.pipeline.StepProgress;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * One queued generation: its resolved request, status, and the ordered list of events it has
 * emitted ({@code queued}, {@code started}, {@code progress}..., then exactly one terminal
 * {@code result}, {@code failed} or {@code cancelled}). A subscriber gets every past event and
 * then the live ones, so an SSE client that connects late still sees the whole story in order.
 */
public final class Job {
    /** Life cycle of a job. */
    public enum Status {
        QUEUED, RUNNING, DONE, FAILED, CANCELLED;

        public boolean finished() {
            return this == DONE || this == FAILED || this == CANCELLED;
        }

        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * How step previews are made: the cheap linear latent-to-RGB map ({@code approx}), a full VAE
     * decode ({@code vae}), or none. The request's {@code preview} takes these names (aliases
     * {@code approximate}, {@code full}, {@code off}); progress events report {@link #label} as
     * {@code preview_kind}.
     */
    public enum Preview {
        APPROX, VAE, NONE;

        /** The API name: {@code approx}, {@code vae} or {@code none}. */
        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }

        public static Preview parse(String s) {
            if (s == null || s.isBlank() || s.equalsIgnoreCase("approx") || s.equalsIgnoreCase("approximate")) {
                return APPROX;
            }
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "vae", "full" -> VAE;
                case "none", "off" -> NONE;
                default -> null;
            };
        }
    }

    /**
     * One server-sent event: its name and data.
     *
     * @param name the SSE event name ({@link JobEvent#name})
     * @param data what the event's JSON data is made from
     */
    public record Event(String name, JobEvent data) {
        public Event(JobEvent data) {
            this(data.name(), data);
        }

        public boolean terminal() {
            return data.terminal();
        }
    }

    private final String id;
    private final ResolvedRequest request;
    private final Preview preview;
    /** The model this job runs on: the one resident when it was submitted. */
    private final dev.tenstep.pipeline.TextToImage generator;
    private final Instant created = Instant.now();
    private final List<Event> events = new ArrayList<>();
    private final List<Consumer<Event>> subscribers = new ArrayList<>();
    private final CompletableFuture<Job> done = new CompletableFuture<>();

    private volatile Status status = Status.QUEUED;
    private volatile boolean cancelRequested;
    private volatile Instant started;
    private volatile int step;
    /** The last step's progress (its x0-hat) while running, for previews on demand; null before and after. */
    private volatile StepProgress lastStep;
    /** Whether a poll asked for the current image ({@link #wantX0hat}). */
    private volatile boolean x0hatWanted;
    private volatile String error;
    private volatile OutputStore.Entry result;
    /** Whether the result is written to the outputs folder (else encoded in memory only). */
    private final boolean save;
    /** The PNG of a result kept in memory ({@code save} false) until {@link #takePng}; null otherwise. */
    private volatile byte[] png;

    Job(String id, ResolvedRequest resolvedRequest, Preview preview, dev.tenstep.pipeline.TextToImage generator, boolean save) {
        this.id = id;
        this.request = resolvedRequest;
        this.preview = preview;
        this.generator = generator;
        this.save = save;
    }

    /**
     * Whether the result goes to the outputs folder; false for an A1111 call with {@code save_images: false}, whose
     * image is answered from memory ({@link #takePng}).
     */
    public boolean save() {
        return save;
    }

    /**
     * The PNG of a result kept in memory ({@link #save} false), handed out once: the job keeps no image after (finished
     * jobs are retained for a while). Null for a saved result, before the job is done, or when already taken.
     */
    public synchronized byte[] takePng() {
        byte[] p = png;
        png = null;
        return p;
    }

    public String id() {
        return id;
    }

    /** The request with defaults filled in (seed, size, schedule, gamma). */
    public ResolvedRequest request() {
        return request;
    }

    public Preview preview() {
        return preview;
    }

    /** The model the job runs (or ran) on: the one resident when it was submitted. */
    dev.tenstep.pipeline.TextToImage generator() {
        return generator;
    }

    /** The name of the model the job runs (or ran) on. */
    public String model() {
        return generator.name();
    }

    public Status status() {
        return status;
    }

    /** The last finished step (0 before the first). */
    public int step() {
        return step;
    }

    public Instant created() {
        return created;
    }

    /** When a worker began the generation; null while queued (and for a job cancelled before it ran). */
    public Instant started() {
        return started;
    }

    /**
     * The progress of the last finished step, x0-hat included, while the job runs (for a preview on demand, such as
     * {@code /sdapi/v1/progress}'s {@code current_image}); null before the first step and once the job has ended.
     */
    public StepProgress lastStep() {
        return lastStep;
    }

    /** The stored output, once {@link Status#DONE}. */
    public OutputStore.Entry result() {
        return result;
    }

    public String error() {
        return error;
    }

    boolean cancelRequested() {
        return cancelRequested;
    }

    void requestCancel() {
        cancelRequested = true;
    }

    /** Completes when the job reaches a terminal status. */
    public CompletableFuture<Job> done() {
        return done;
    }

    void running() {
        started = Instant.now();
        status = Status.RUNNING;
    }

    /**
     * Asks for this job's x0-hat at every later step ({@code /sdapi/v1/progress}'s {@code current_image}): the
     * device copy is made only for jobs whose image someone polls.
     */
    void wantX0hat() {
        x0hatWanted = true;
    }

    void step(StepProgress p) {
        step = p.step();
        if (x0hatWanted) {
            // copied while the step's device array lives, for a poll after the callback
            p.x0hat();
        }
        lastStep = p;
    }

    /** Done: {@code entry} is the stored result, {@code inMemory} its PNG when not saved (else null). */
    void succeeded(OutputStore.Entry entry, byte[] inMemory) {
        result = entry;
        png = inMemory;
        status = Status.DONE;
    }

    void failed(String message) {
        error = message;
        status = Status.FAILED;
    }

    void cancelled() {
        status = Status.CANCELLED;
    }

    void complete() {
        // the latent is only needed while running; finished jobs are kept for a while
        lastStep = null;
        done.complete(this);
    }

    /** Records and broadcasts an event; earlier progress events drop their preview image. */
    synchronized void emit(JobEvent data) {
        if (data instanceof JobEvent.Progress) {
            for (int i = events.size() - 1; i >= 0; i--) {
                if (events.get(i).data() instanceof JobEvent.Progress p && p.preview() != null) {
                    events.set(i, new Event(p.withoutPreview()));
                    break;
                }
            }
        }
        Event e = new Event(data);
        events.add(e);
        for (Consumer<Event> sink : subscribers) {
            sink.accept(e);
        }
    }

    /**
     * Hands {@code sink} every event so far, then each new one as it is emitted (on the emitting
     * thread, under this job's lock: the sink must only enqueue). Call {@link #unsubscribe} when done.
     */
    public synchronized void subscribe(Consumer<Event> sink) {
        events.forEach(sink);
        subscribers.add(sink);
    }

    public synchronized void unsubscribe(Consumer<Event> sink) {
        subscribers.remove(sink);
    }

    /**
     * The JSON shape of {@code GET /api/jobs/{id}}: status and progress, {@code model} (the model it
     * runs on), {@code request} (the {@link GenerationRecord} of the resolved request) and, once
     * done, {@code result}: the stored image's record plus its links ({@code image} URL, result
     * {@code page}, {@code reuse} form).
     *
     * @param position the job's place among the waiting jobs (0 when running or ended)
     */
    public JobView toJson(int position) {
        OutputStore.Entry r = result;
        ObjectNode res = null;
        if (r != null) {
            res = GenerationRecord.JSON.valueToTree(r.params());
            res.put("infotext", r.infotext());
            if (r.file() != null) {
                // a result kept in memory only (save_images: false) has no file and no links
                res.put("image", r.url());
                res.put("file", r.file());
                res.put("page", r.resultUrl());
                res.put("reuse", r.reuseUrl());
            }
        }
        return new JobView(id, status.label(), position, step, request.stepsRun(), generator.name(),
                "/api/jobs/" + id + "/events", GenerationRecord.ofRequest(request, null), error, res);
    }
}
