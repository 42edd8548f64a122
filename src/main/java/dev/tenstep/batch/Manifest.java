package dev.tenstep.batch;

import dev.tenstep.pipeline.GenerationRecord;
import dev.tenstep.io.AtomicFiles;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * {@code manifest.jsonl}: one JSON object per line, one line per finished image, appended and
 * fsynced only after its PNG is complete on disk. Loading tolerates a torn last line (a process
 * killed mid-append: no newline, or invalid JSON) and any other invalid line: they are dropped, and
 * the file is rewritten atomically without them before anything is appended. The dropped lines are
 * not logged here: {@link #dropped()} lists them and the caller reports each once (the batch runner
 * as an observer warning).
 */
public final class Manifest {
    /** The file name in the output folder. */
    public static final String FILE = "manifest.jsonl";

    /** The records' JSON layout: the one of every {@link GenerationRecord} ({@link GenerationRecord#JSON}). */
    static final ObjectMapper JSON = GenerationRecord.JSON;

    private final Path file;
    private final List<GenerationRecord> records = new ArrayList<>();
    private final List<String> dropped = new ArrayList<>();

    private Manifest(Path file) {
        this.file = file;
    }

    /**
     * Opens the manifest of an output folder: reads the valid records, and repairs the file (atomic
     * rewrite) if a line was torn or invalid.
     *
     * @param fresh start over: the existing manifest (if any) is emptied
     */
    public static Manifest open(Path outputDir, boolean fresh) throws IOException {
        Manifest m = new Manifest(outputDir.resolve(FILE));
        Files.createDirectories(outputDir);
        if (fresh) {
            if (Files.exists(m.file)) {
                AtomicFiles.write(m.file, new byte[0]);
            }
            return m;
        }
        if (!Files.exists(m.file)) {
            return m;
        }
        Parsed parsed = parse(Files.readString(m.file, StandardCharsets.UTF_8));
        m.records.addAll(parsed.records());
        m.dropped.addAll(parsed.dropped());
        if (!parsed.dropped().isEmpty()) {
            AtomicFiles.write(m.file, parsed.kept().getBytes(StandardCharsets.UTF_8));
        }
        return m;
    }

    /**
     * The content of a manifest file, read by {@link #parse}.
     *
     * @param records the valid records, in file order
     * @param dropped a message per dropped line ({@code manifest.jsonl:N: ...})
     * @param kept    the text of the valid lines, each ending in a newline (what a repair writes)
     */
    public record Parsed(List<GenerationRecord> records, List<String> dropped, String kept) {
    }

    /**
     * Reads the text of a manifest: a torn last line (no newline) and invalid lines are dropped, blank lines
     * skipped. Used by {@link #open} and by the Spark job, which reads the file through Hadoop's file system API.
     */
    public static Parsed parse(String text) {
        List<GenerationRecord> records = new ArrayList<>();
        List<String> dropped = new ArrayList<>();
        StringBuilder keep = new StringBuilder();
        int start = 0;
        int lineNo = 0;
        while (start < text.length()) {
            int nl = text.indexOf('\n', start);
            lineNo++;
            String line = nl < 0 ? text.substring(start) : text.substring(start, nl);
            start = nl < 0 ? text.length() : nl + 1;
            if (line.isBlank()) {
                continue;
            }
            if (nl < 0) {
                dropped.add(FILE + ":" + lineNo + ": torn last line (no newline), ignored");
                continue;
            }
            try {
                records.add(JSON.readValue(line, GenerationRecord.class));
                keep.append(line).append('\n');
            } catch (JsonProcessingException e) {
                dropped.add(FILE + ":" + lineNo + ": invalid record, ignored (" + e.getOriginalMessage() + ")");
            }
        }
        return new Parsed(List.copyOf(records), List.copyOf(dropped), keep.toString());
    }

    /** One record as a manifest line: its JSON ({@link GenerationRecord#JSON}) and a newline. */
    public static String line(GenerationRecord r) {
        try {
            return JSON.writeValueAsString(r) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("a generation record cannot be written as JSON", e);
        }
    }

    /** The valid records, oldest first. */
    public List<GenerationRecord> records() {
        return Collections.unmodifiableList(records);
    }

    /** Messages about lines that were dropped while opening. */
    public List<String> dropped() {
        return Collections.unmodifiableList(dropped);
    }

    public Path file() {
        return file;
    }

    /** Appends one record as a line and fsyncs the manifest. */
    public synchronized void append(GenerationRecord r) throws IOException {
        byte[] line = line(r).getBytes(StandardCharsets.UTF_8);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.APPEND)) {
            ByteBuffer buf = ByteBuffer.wrap(line);
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
            ch.force(true);
        }
        records.add(r);
    }
}
