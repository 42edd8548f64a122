package dev.tenstep.web;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.io.PngImages;
import dev.tenstep.pipeline.GenerationRecord;
import dev.tenstep.pipeline.OutputWriter;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The {@code --outputs} folder, the web's gallery index over the files {@link OutputWriter} writes there: each result
 * is a PNG with the A1111 {@code parameters} text chunk plus a JSON sidecar of the same name (its
 * {@link GenerationRecord}). This class names new files ({@link #newFile}) and reads the folder; it writes nothing.
 * File names start with a UTC timestamp, so name order is age order and the gallery survives restarts by listing the
 * folder. {@link #resolve} is the only way a request reaches a file in it.
 */
public final class OutputStore {
    private static final DateTimeFormatter STAMP =
            DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss-SSS").withZone(ZoneOffset.UTC);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path dir;

    /**
     * One stored result. {@code params} is the sidecar (or, without one, only the infotext); {@code file} is null for
     * a result encoded in memory only ({@link #entry(OutputWriter.Output)}), which has no links.
     */
    public record Entry(String file, String created, String prompt, String infotext, Map<String, Object> params) {
        public String url() {
            return "/outputs/" + encode(file);
        }

        public String reuseUrl() {
            return "/?reuse=" + java.net.URLEncoder.encode(file, java.nio.charset.StandardCharsets.UTF_8);
        }

        public String resultUrl() {
            return "/result/" + encode(file);
        }

        /** Notes of the generation (e.g. a prompt encoded in several chunks), from the sidecar. */
        public List<String> warnings() {
            Object w = params.get("warnings");
            return w instanceof List<?> l ? l.stream().map(String::valueOf).toList() : List.of();
        }

        /** A file name as one URL path segment: every byte but unreserved characters percent-encoded (space = %20). */
        static String encode(String name) {
            return java.net.URLEncoder.encode(name, java.nio.charset.StandardCharsets.UTF_8).replace("+", "%20");
        }

        /**
         * The image's alt text: its prompt, then sampler, schedule and steps as far as the sidecar
         * records them, e.g. {@code "a red cube": GE, log-linear schedule, 10 steps}.
         */
        public String altText() {
            StringBuilder b = new StringBuilder(prompt == null || prompt.isEmpty() ? "Empty prompt" : "\"" + prompt + "\"");
            List<String> parts = new ArrayList<>();
            if (params.get("sampler_name") != null) {
                parts.add(String.valueOf(params.get("sampler_name")));
            }
            if (params.get("schedule") != null) {
                parts.add(params.get("schedule") + " schedule");
            }
            if (params.get("steps") != null) {
                parts.add(params.get("steps") + " steps");
            }
            if (!parts.isEmpty()) {
                b.append(": ").append(String.join(", ", parts));
            }
            return b.toString();
        }
    }

    /** A page of entries, newest first. */
    public record Page(List<Entry> entries, int page, int pages, int total) {
    }

    public OutputStore(Path dir) {
        this.dir = dir.toAbsolutePath().normalize();
        try {
            Files.createDirectories(this.dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the outputs folder " + this.dir, e);
        }
    }

    public Path dir() {
        return dir;
    }

    /**
     * The file a new result is written to ({@link OutputWriter#write}, with its sidecar): the UTC time stamp of
     * {@code created} (so name order is age order), the seed and the job id, e.g.
     * {@code 20261207-055122-123-42-1a2b3c4d5e6f.png}.
     */
    public Path newFile(long seed, String jobId, Instant created) {
        return dir.resolve(STAMP.format(created) + "-" + seed + "-" + jobId + ".png");
    }

    /**
     * The entry of a result the writer produced: stored in this folder, or encoded in memory only
     * ({@code file} null: an A1111 call with {@code save_images: false}, whose links lead nowhere).
     */
    public static Entry entry(OutputWriter.Output output) {
        GenerationRecord r = output.record();
        Map<String, Object> side = GenerationRecord.JSON.convertValue(r, new TypeReference<LinkedHashMap<String, Object>>() { });
        return new Entry(r.file(), r.created(), r.prompt(), r.infotext(), side);
    }

    /**
     * The file {@code name} if it is a plain name of a regular file directly inside the folder;
     * empty for anything else ({@code ..}, separators, hidden or temporary files, symlinks out).
     */
    public Optional<Path> resolve(String name) {
        // any name of a file directly inside the folder: no separators, no "." or "..", not hidden (temporary files
        // of AtomicFiles start with a dot), no NUL; the parent and real-path checks below stop every other way out
        if (name == null || name.isEmpty() || name.startsWith(".") || name.indexOf('/') >= 0
                || name.indexOf('\\') >= 0 || name.indexOf('\0') >= 0) {
            return Optional.empty();
        }
        Path p = dir.resolve(name).normalize();
        if (!dir.equals(p.getParent()) || !Files.isRegularFile(p)) {
            return Optional.empty();
        }
        try {
            if (!p.toRealPath().startsWith(dir.toRealPath())) {
                return Optional.empty();
            }
        } catch (IOException e) {
            return Optional.empty();
        }
        return Optional.of(p);
    }

    /** The stored entry of a PNG name, if present. */
    public Optional<Entry> entry(String png) {
        if (png == null || !png.endsWith(".png")) {
            return Optional.empty();
        }
        return resolve(png).map(this::read);
    }

    /** Newest first, {@code size} per page, {@code page} 1-based (clamped). */
    public Page list(int page, int size) {
        List<Path> all = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.filter(p -> {
                String n = p.getFileName().toString();
                return n.endsWith(".png") && !n.startsWith(".") && Files.isRegularFile(p);
            }).forEach(all::add);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        all.sort(Comparator.comparing((Path p) -> p.getFileName().toString()).reversed());
        int pages = Math.max(1, (all.size() + size - 1) / size);
        int current = Math.min(Math.max(page, 1), pages);
        int from = (current - 1) * size;
        List<Entry> entries = new ArrayList<>();
        for (Path p : all.subList(Math.min(from, all.size()), Math.min(from + size, all.size()))) {
            entries.add(read(p));
        }
        return new Page(entries, current, pages, all.size());
    }

    private Entry read(Path png) {
        String name = png.getFileName().toString();
        Path side = png.resolveSibling(name.substring(0, name.length() - 4) + ".json");
        Map<String, Object> params = new LinkedHashMap<>();
        if (Files.isRegularFile(side)) {
            try {
                params = JSON.readValue(side.toFile(), new TypeReference<LinkedHashMap<String, Object>>() { });
            } catch (IOException e) {
                params = new LinkedHashMap<>();
            }
        }
        String infotext = (String) params.get("infotext");
        if (infotext == null) {
            try {
                infotext = PngImages.readText(png).getOrDefault(PngImages.PARAMETERS, "");
            } catch (IOException e) {
                infotext = "";
            }
            params.put("infotext", infotext);
        }
        Object prompt = params.get("prompt");
        String created = params.get("created") != null ? params.get("created").toString() : "";
        return new Entry(name, created, prompt != null ? prompt.toString() : firstLine(infotext), infotext, params);
    }

    private static String firstLine(String s) {
        int i = s.indexOf('\n');
        return i < 0 ? s : s.substring(0, i);
    }
}
