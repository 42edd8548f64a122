package dev.tenstep.batch;

import dev.tenstep.io.Hashes;
import dev.tenstep.pipeline.GenerationRecord;
import dev.tenstep.pipeline.ResolvedRequest;
import dev.tenstep.pipeline.InvalidRequestException;
import dev.tenstep.pipeline.OutputWriter;
import dev.tenstep.pipeline.StepProgress;
import dev.tenstep.pipeline.TextToImage;
import dev.tenstep.pipeline.prompt.PromptChunks;
import dev.tenstep.pipeline.prompt.PromptEncoder;
import dev.tenstep.pipeline.prompt.PromptSyntax;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.LongSupplier;

/**
 * Runs a batch: every prompt line of the prompt files, once per {@link Variant} (sampler column),
 * into an output folder holding the PNGs, {@code manifest.jsonl} and the {@code index.html}
 * contact sheet.
 *
 * <p>Order of work for one image: generate, write the PNG atomically ({@link OutputWriter}: temp file, fsync,
 * rename), then append its manifest record (fsync). So a record exists only for a complete file and a process killed
 * at any moment loses at most the image in flight (no shutdown hook is needed, none can race a write). The contact
 * sheet is written atomically when the run starts and ends, and in between after an image or failure when the last
 * write is at least {@link #SHEET_INTERVAL} old: it never shows an image that is not finished, and lags the manifest
 * by at most that interval plus one image (a killed run's sheet is brought up to date by the resume). On resume, a (line, variant)
 * whose latest record describes the same generation ({@link GenerationRecord#sameGeneration}: prompt syntax, clip
 * skip and RNG included), whose file exists and whose SHA-256 matches is skipped. Records of earlier versions lack
 * those three fields: they are read as the behaviour of then (literal prompts cut at 77 tokens, clip skip 1, the
 * {@code tenstep} RNG), so such an image is redone unless the line asks for exactly that.
 *
 * <p>The pipeline is loaded by the caller once; each line's prompt is encoded once and the
 * embedding reused by all its variants, which also share the starting noise z_init of the line's
 * seed (passed explicitly and hashed into the record's {@code noise_sha256}).
 */
public final class BatchRunner {
    /** The contact sheet's file name. */
    public static final String INDEX = "index.html";

    /** Least time between two writes of the contact sheet while a batch runs. */
    public static final Duration SHEET_INTERVAL = Duration.ofSeconds(10);

    private static final SecureRandom SEEDS = new SecureRandom();

    /**
     * What to run.
     *
     * @param promptFiles the prompt files, in order
     * @param output      the output folder
     * @param defaults    the generation options of lines that do not set them; {@code seed} is the seed base
     *                    (negative: a random base, or on resume the base recorded in the manifest)
     * @param compare     the variants to render each line with; empty = each line's own sampler
     * @param resume      skip the images already done (else start the manifest over)
     */
    public record Settings(List<Path> promptFiles, Path output, GenerationOptions defaults, List<Variant> compare,
                           boolean resume) {
    }

    /**
     * A cell of the batch as planned before any model resolves it: a prompt line, a variant, the line's seed, the
     * record key {@code <prompt file name>:<line>#<variant>} and the PNG's file name, both pure functions of the prompt
     * file's name, the line and the variant ({@link #slots}), so a cell made twice (a resumed batch, a retried Spark
     * task) lands on the same file.
     */
    public record Slot(PromptEntry entry, Variant variant, long seed, String key, String fileName) {
    }

    /** One image to make: a {@link Slot} with its request as the model resolved it. */
    public record Job(PromptEntry entry, Variant variant, ResolvedRequest request, String key, String fileName) {
    }

    /**
     * Whether a file of the output folder is complete: present with this SHA-256 (the local folder here, a Hadoop
     * file system in the Spark job).
     */
    @FunctionalInterface
    public interface FileCheck {
        boolean intact(String fileName, String sha256);
    }

    /** A line or image that failed: {@code source} is {@code file:line}. */
    public record Failure(String source, String variant, String reason) {
        public String message() {
            return source + (variant == null ? "" : " [" + variant + "]") + ": " + reason;
        }
    }

    /**
     * The outcome of a run.
     *
     * @param images    images in the batch (lines x variants, valid lines only)
     * @param generated images generated by this run
     * @param skipped   images already done (resume)
     * @param failures  failed lines and images
     * @param seedBase  the seed base used
     */
    public record Summary(int images, int generated, int skipped, List<Failure> failures, long seedBase) {
        /** 0 when everything succeeded, 1 if any line or image failed. */
        public int exitCode() {
            return failures.isEmpty() ? 0 : 1;
        }
    }

    /**
     * Progress and test hooks. An exception thrown from a hook that is not a {@link RuntimeException}
     * (e.g. an {@link Error}) stops the run at once, as a kill would.
     */
    public interface Observer {
        Observer NONE = new Observer() {
        };

        /** Before the first generation: {@code total} images of which {@code done} are already done. */
        default void started(int total, int done, long seedBase) {
        }

        /**
         * Line {@code entry} asked for a random seed ({@code --seed} negative): {@code seed} is the one it
         * gets, drawn now ({@code reused} false) or taken from the line's manifest record on resume.
         */
        default void randomSeed(PromptEntry entry, long seed, boolean reused) {
        }

        /** A denoising step of a job. */
        default void step(Job job, StepProgress progress) {
        }

        /** The PNG of a job is complete on disk; its record is not yet in the manifest. */
        default void written(Job job, Path png) {
        }

        /** The job's record is in the manifest. */
        default void recorded(Job job, GenerationRecord record) {
        }

        /** A line or image failed; the run goes on. */
        default void failed(Failure failure) {
        }

        /** A warning (e.g. a dropped manifest line, a truncated prompt). */
        default void warning(String message) {
        }

        default void finished(Summary summary) {
        }
    }

    private final TextToImage pipeline;
    private final Settings settings;
    private final Observer observer;
    private final long sheetIntervalNanos;
    private final LongSupplier nanoTime;
    /** {@link #nanoTime} of the contact sheet's last write. */
    private long sheetWritten;

    public BatchRunner(TextToImage pipeline, Settings settings, Observer observer) {
        this(pipeline, settings, observer, SHEET_INTERVAL, System::nanoTime);
    }

    /**
     * With another contact-sheet interval and clock (tests).
     *
     * @param sheetInterval least time between two writes of the sheet while the batch runs ({@link Duration#ZERO}:
     *                      after every image)
     * @param nanoTime      a monotonic clock in nanoseconds, as {@link System#nanoTime}
     */
    BatchRunner(TextToImage pipeline, Settings settings, Observer observer, Duration sheetInterval, LongSupplier nanoTime) {
        this.pipeline = Objects.requireNonNull(pipeline);
        this.settings = Objects.requireNonNull(settings);
        this.observer = observer == null ? Observer.NONE : observer;
        this.sheetIntervalNanos = sheetInterval.toNanos();
        this.nanoTime = Objects.requireNonNull(nanoTime);
    }

    /** Runs the batch; failures of single lines are in the summary, not thrown. */
    public Summary run() throws IOException {
        Path out = settings.output();
        Manifest manifest = Manifest.open(out, !settings.resume());
        manifest.dropped().forEach(observer::warning);
        List<Failure> failures = new ArrayList<>();

        List<PromptEntry> entries = readEntries(settings.promptFiles(), settings.defaults());
        long seedBase = seedBase(settings.defaults(), settings.resume(), manifest.records());

        // Plan: one job per (valid line, variant); keep the latest record per key.
        Map<String, GenerationRecord> latest = latestByKey(manifest.records());
        Map<String, Long> randomSeeds = recordedRandomSeeds(manifest.records());
        Map<PromptEntry, List<Job>> jobs = new LinkedHashMap<>();
        Map<PromptEntry, List<Slot>> slots = new LinkedHashMap<>();
        Map<String, GenerationRecord> done = new LinkedHashMap<>();
        List<String> columns = new ArrayList<>();
        FileCheck files = localFiles(out);
        int total = 0;
        for (PromptEntry e : entries) {
            if (!e.ok()) {
                fail(failures, new Failure(e.location(), null, e.error()));
                continue;
            }
            List<Slot> line = slots(e, settings.compare(), lineSeed(e, seedBase, randomSeeds, observer));
            List<Job> list;
            try {
                list = resolve(pipeline, line);
            } catch (InvalidRequestException ex) {
                fail(failures, new Failure(e.location(), null, reason(ex)));
                continue;
            }
            for (Job j : list) {
                if (!columns.contains(j.variant().label())) {
                    columns.add(j.variant().label());
                }
                GenerationRecord prev = latest.get(j.key());
                if (prev != null && isDone(pipeline, j, prev, seedBase, files)) {
                    done.put(j.key(), prev);
                }
            }
            total += list.size();
            jobs.put(e, list);
            slots.put(e, line);
        }

        // The sheet is written now (so a stale one from an earlier run never survives, e.g. after --no-resume),
        // at most every SHEET_INTERVAL while the batch runs, and at the end.
        ContactSheet sheet = new ContactSheet(pipeline.name(), seedBase, entries, slots, columns);
        sheet.write(out.resolve(INDEX), done, failures, false);
        sheetWritten = nanoTime.getAsLong();
        int skipped = done.size();
        observer.started(total, skipped, seedBase);

        int[] generated = {0};
        LineRenderer renderer = new LineRenderer(pipeline, seedBase, observer, (j, image, made) -> {
            Path file = out.resolve(j.fileName());
            // the record goes to the manifest, not to a sidecar
            GenerationRecord rec = OutputWriter.write(file, image, made, Instant.now(), OutputWriter.Sidecar.NONE)
                    .record();
            observer.written(j, file);
            manifest.append(rec);
            observer.recorded(j, rec);
            return rec;
        });
        LineRenderer.Outcomes outcomes = new LineRenderer.Outcomes() {
            @Override
            public void done(Job j, GenerationRecord r) {
                done.put(j.key(), r);
                generated[0]++;
                refreshSheet(sheet, done, failures);
            }

            @Override
            public void failed(Failure f) {
                fail(failures, f);
                refreshSheet(sheet, done, failures);
            }
        };
        for (Map.Entry<PromptEntry, List<Job>> je : jobs.entrySet()) {
            List<Job> pending = je.getValue().stream().filter(j -> !done.containsKey(j.key())).toList();
            renderer.render(je.getKey(), pending, outcomes);
        }

        sheet.write(out.resolve(INDEX), done, failures, true);
        Summary summary = new Summary(total, generated[0], skipped, List.copyOf(failures), seedBase);
        observer.finished(summary);
        return summary;
    }

    /**
     * The cells of a valid prompt line: one per variant of {@code compare} (empty: the line's own sampler), all with
     * the line's seed.
     *
     * @throws IllegalArgumentException if the line is invalid ({@link PromptEntry#ok()} false)
     */
    public static List<Slot> slots(PromptEntry e, List<Variant> compare, long seed) {
        if (!e.ok()) {
            throw new IllegalArgumentException(e.location() + " is not a valid prompt line: " + e.error());
        }
        List<Variant> variants = compare.isEmpty() ? List.of(Variant.of(e.request())) : compare;
        List<Slot> out = new ArrayList<>();
        for (Variant v : variants) {
            String key = lineKey(e) + "#" + v.label();
            String name = stem(e.file()) + "-" + String.format("%04d", e.line()) + "-" + v.slug() + ".png";
            out.add(new Slot(e, v, seed, key, name));
        }
        return out;
    }

    /**
     * The cells of a line as {@code pipeline} resolves them.
     *
     * @throws InvalidRequestException when the model refuses the line's request (e.g. a size it cannot make)
     */
    public static List<Job> resolve(TextToImage pipeline, List<Slot> slots) {
        List<Job> out = new ArrayList<>();
        for (Slot s : slots) {
            ResolvedRequest r = pipeline.resolve(s.variant().apply(s.entry().request().withSeed(s.seed())));
            out.add(new Job(s.entry(), s.variant(), r, s.key(), s.fileName()));
        }
        return out;
    }

    /**
     * The seed of a valid line: its own ({@code --seed N}, N &gt;= 0), the seed base + its index, or for a negative
     * {@code --seed} the one {@code recorded} for the line, else a new random one ({@link Observer#randomSeed} is told
     * either way).
     *
     * @param recorded line key -&gt; random seed of earlier runs ({@link #recordedRandomSeeds})
     */
    public static long lineSeed(PromptEntry e, long seedBase, Map<String, Long> recorded, Observer observer) {
        return switch (e.seedMode()) {
            case FIXED -> e.request().seed();
            case BASE -> seedBase + e.index();
            case RANDOM -> randomSeed(e, recorded, observer);
        };
    }

    /** The latest record of each key, of a manifest's records in file order. */
    public static Map<String, GenerationRecord> latestByKey(List<GenerationRecord> records) {
        Map<String, GenerationRecord> latest = new LinkedHashMap<>();
        for (GenerationRecord r : records) {
            latest.put(r.key(), r);
        }
        return latest;
    }

    /** Line key -&gt; the random seed drawn for the line by an earlier run ({@code random_seed: true} records). */
    public static Map<String, Long> recordedRandomSeeds(List<GenerationRecord> records) {
        Map<String, Long> seeds = new HashMap<>();
        for (GenerationRecord r : records) {
            if (Boolean.TRUE.equals(r.randomSeed())) {
                seeds.put(lineKey(r.key()), r.seed());
            }
        }
        return seeds;
    }

    /**
     * Whether {@code prev} is a finished record of job {@code j} ({@code batch --resume}'s rule): the same generation
     * ({@link GenerationRecord#sameGeneration}), and its file present and intact (SHA-256).
     */
    public static boolean isDone(TextToImage pipeline, Job j, GenerationRecord prev, long seedBase, FileCheck files) {
        ResolvedRequest r = j.request();
        GenerationRecord expected = GenerationRecord.ofRequest(r, pipeline.name()).stored(j.fileName(), null, null)
                .inBatch(j.key(), j.entry().location(), j.entry().index(), j.variant().label(), seedBase,
                        j.entry().randomSeed(), null);
        if (!expected.sameGeneration(prev) || (prev.predatesPromptFields() && longerThanOneChunk(pipeline, r))) {
            return false;
        }
        return prev.file() != null && prev.sha256() != null && files.intact(prev.file(), prev.sha256());
    }

    /** {@link FileCheck} of a local output folder. */
    public static FileCheck localFiles(Path out) {
        return (name, sha) -> {
            Path file = out.resolve(name);
            try {
                return Files.isRegularFile(file) && Hashes.sha256(Files.readAllBytes(file)).equals(sha);
            } catch (IOException e) {
                return false;
            }
        };
    }

    /**
     * Whether a prompt of {@code r} is longer than one 75-token chunk: then a record from before prompt chunks
     * ({@link GenerationRecord#predatesPromptFields}) describes an image whose prompt was cut at 77 tokens, which no
     * request makes any more. Only plain requests get here (such a record's syntax is plain).
     */
    private static boolean longerThanOneChunk(TextToImage pipeline, ResolvedRequest r) {
        PromptEncoder encoder = pipeline.promptEncoder();
        if (encoder == null) {
            // no text encoder (e.g. an ideal model): prompts were never tokenized, so never cut
            return false;
        }
        return encoder.chunks(r.prompt(), PromptSyntax.PLAIN).tokenCount() > PromptChunks.CHUNK_TOKENS
                || encoder.chunks(r.negativePrompt(), PromptSyntax.PLAIN).tokenCount() > PromptChunks.CHUNK_TOKENS;
    }

    /**
     * The prompt lines of the prompt files, in order, indexed over all files.
     *
     * @throws IllegalArgumentException if two files have the same name (image names and keys would collide)
     */
    public static List<PromptEntry> readEntries(List<Path> promptFiles, GenerationOptions defaults) throws IOException {
        List<PromptEntry> entries = new ArrayList<>();
        Map<String, Path> stems = new HashMap<>();
        for (Path f : promptFiles) {
            checkStem(stems, f);
            entries.addAll(PromptFile.read(f, defaults, entries.size()));
        }
        return entries;
    }

    /**
     * Adds the stem of {@code file} to {@code stems}.
     *
     * @throws IllegalArgumentException if another input file has the same stem: image names and resume keys would
     *                                  collide
     */
    public static void checkStem(Map<String, Path> stems, Path file) {
        Path other = stems.put(stem(file), file);
        if (other != null) {
            throw new IllegalArgumentException("prompt files " + other + " and " + file
                    + " have the same name; image names and resume keys would collide: rename one");
        }
    }

    /**
     * The seed base of a batch: the defaults' {@code --seed} when it is not negative, else on resume the one of the
     * manifest's last record, else a new random one.
     */
    public static long seedBase(GenerationOptions defaults, boolean resume, List<GenerationRecord> records) {
        long base = defaults.seed;
        if (base >= 0) {
            return base;
        }
        if (resume && !records.isEmpty()) {
            return records.get(records.size() - 1).seedBase();
        }
        return SEEDS.nextLong() & 0xffffffffL;
    }

    /**
     * Rewrites the contact sheet (atomically) after an image or failure when its last write is at least the sheet
     * interval old. A failure here only warns; the image and its record are safe, and the end of the run writes the
     * sheet again (and fails then if it still cannot).
     */
    private void refreshSheet(ContactSheet sheet, Map<String, GenerationRecord> done, List<Failure> failures) {
        long now = nanoTime.getAsLong();
        if (now - sheetWritten < sheetIntervalNanos) {
            return;
        }
        try {
            sheet.write(settings.output().resolve(INDEX), done, failures, false);
        } catch (IOException ex) {
            observer.warning("cannot update " + INDEX + ": " + reason(ex));
        }
        sheetWritten = now;
    }

    /**
     * The seed of a line with a negative {@code --seed}: the one recorded for the line (any variant) by
     * an earlier run of this manifest, else a new random one, as {@code generate} draws it. Reported to
     * the observer either way, so the seed is always printed.
     */
    private static long randomSeed(PromptEntry e, Map<String, Long> recorded, Observer observer) {
        Long prev = recorded.get(lineKey(e));
        long seed = prev != null ? prev : SEEDS.nextLong() & 0xffffffffL;
        observer.randomSeed(e, seed, prev != null);
        return seed;
    }

    /** {@code <prompt file name>:<line>}: the part of a record key before {@code #variant}. */
    private static String lineKey(PromptEntry e) {
        return e.file().getFileName() + ":" + e.line();
    }

    private static String lineKey(String recordKey) {
        int hash = recordKey.lastIndexOf('#');
        return hash < 0 ? recordKey : recordKey.substring(0, hash);
    }

    private void fail(List<Failure> failures, Failure f) {
        failures.add(f);
        observer.failed(f);
    }

    /** The message of a failure: a refused request's errors as the command line names the options. */
    public static String reason(Exception e) {
        if (e instanceof InvalidRequestException ire) {
            return String.join("; ", ire.fieldErrors().stream().map(GenerationOptions::optionError).toList());
        }
        String m = e.getMessage();
        return m == null ? e.getClass().getSimpleName() : m;
    }

    /** Longest stem used in image names: leaves room for the line number, the variant and ".png" in 255 bytes. */
    static final int MAX_STEM = 100;

    /**
     * The prompt file's name without extension, as safe ASCII ({@code [A-Za-z0-9._-]}); a stem longer than
     * {@value #MAX_STEM} characters is cut and ends in {@code ~} and 8 hex digits of a hash of the whole stem, so
     * image names stay within file-system limits and different long stems stay different.
     */
    static String stem(Path file) {
        String n = file.getFileName().toString();
        int dot = n.lastIndexOf('.');
        if (dot > 0) {
            n = n.substring(0, dot);
        }
        String safe = n.replaceAll("[^A-Za-z0-9._-]", "_");
        if (safe.length() <= MAX_STEM) {
            return safe;
        }
        String hash = Hashes.sha256(n.getBytes(java.nio.charset.StandardCharsets.UTF_8)).substring(0, 8);
        return safe.substring(0, MAX_STEM - 9) + "~" + hash;
    }
}
