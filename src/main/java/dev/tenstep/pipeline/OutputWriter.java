package dev.tenstep.pipeline;

import dev.tenstep.io.AtomicFiles;
import dev.tenstep.io.Hashes;
import dev.tenstep.io.PngImages;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.Objects;

/**
 * The one writer of output files. A finished generation becomes a PNG whose A1111 {@code parameters} text chunk is
 * the record's infotext, and a {@link GenerationRecord} that names the file, its SHA-256 and its creation time in
 * {@link #TIME} format; both are written with {@link AtomicFiles} (temporary file, fsync, rename), so a process killed
 * at any moment leaves a complete file or none. The web server ({@code <image>.json} sidecar), the batch runner
 * (the record goes to its manifest), {@code generate} (PNG only) and the in-memory A1111 answer
 * ({@code save_images: false}, {@link #encode}) and the Spark job (a {@link Sink} on a Hadoop file system) all use it; other output files (a study's JSON, CSV and chart, the
 * batch contact sheet) go through {@link #writeText} and {@link #writeImage}.
 */
public final class OutputWriter {
    /**
     * The time format of every record: ISO-8601 UTC with milliseconds, always three digits and {@code Z}
     * ({@code 2026-12-07T05:51:22.123Z}); {@link Instant#parse} reads it back.
     */
    public static final DateTimeFormatter TIME =
            DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

    /** Where the record of a written PNG goes besides the caller. */
    public enum Sidecar {
        /** Nowhere: the caller keeps it (a batch manifest line) or only the PNG is wanted ({@code generate}). */
        NONE,
        /** {@code <image>.json} beside the PNG ({@link #sidecarOf}), pretty-printed {@link GenerationRecord#JSON}. */
        JSON
    }

    /**
     * A generation encoded (and, from {@link #write}, stored).
     *
     * @param file   the PNG written, or null when encoded in memory only ({@link #encode})
     * @param png    the PNG bytes, {@code parameters} chunk included
     * @param record the record of the image: {@code file} (the file name, null in memory), {@code sha256} of
     *               {@code png}, {@code created} and {@code timings.write_ms} set; everything else as given
     */
    public record Output(Path file, byte[] png, GenerationRecord record) {
    }

    private OutputWriter() {
    }

    /** {@code t} in {@link #TIME} format. */
    public static String time(Instant t) {
        return TIME.format(t);
    }

    /**
     * Encodes a generation as PNG in memory, nothing written.
     *
     * @param image   the decoded RGB image
     * @param record  its record ({@link GenerationRecord#of}, perhaps {@link GenerationRecord#inBatch}); its
     *                {@code infotext} becomes the PNG's {@code parameters} chunk
     * @param created the creation time recorded
     * @throws IOException when the PNG cannot be encoded
     */
    public static Output encode(BufferedImage image, GenerationRecord record, Instant created) throws IOException {
        long t0 = System.nanoTime();
        byte[] png = png(image, record);
        return new Output(null, png, stored(record, null, png, created, t0));
    }

    /**
     * Writes a generation: the PNG atomically to {@code file}, then (with {@link Sidecar#JSON}) its record atomically
     * beside it. {@code timings.write_ms} is the PNG's encode, write and fsync time.
     *
     * @param file    the PNG to write (missing folders are created); the record's {@code file} is its file name
     * @param image   the decoded RGB image
     * @param record  its record; its {@code infotext} becomes the PNG's {@code parameters} chunk
     * @param created the creation time recorded
     * @param sidecar whether to write {@code <image>.json}
     * @throws IOException naming the file that could not be written (after a failed sidecar the PNG remains: readers
     *                     of the folder fall back to its infotext)
     */
    public static Output write(Path file, BufferedImage image, GenerationRecord record, Instant created, Sidecar sidecar)
            throws IOException {
        long t0 = System.nanoTime();
        byte[] png = png(image, record);
        AtomicFiles.write(file, png);
        GenerationRecord stored = stored(record, file.getFileName().toString(), png, created, t0);
        if (sidecar == Sidecar.JSON) {
            AtomicFiles.write(sidecarOf(file), GenerationRecord.JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(stored));
        }
        return new Output(file, png, stored);
    }

    /**
     * Where {@link #write(String, Sink, BufferedImage, GenerationRecord, Instant)} puts a PNG: a store that replaces
     * {@code fileName} with {@code bytes} atomically (complete or not at all), e.g. a Hadoop file system through a
     * temporary file and a rename (the Spark job, {@code batch/spark}).
     */
    @FunctionalInterface
    public interface Sink {
        /** @throws IOException naming the file that could not be written */
        void write(String fileName, byte[] bytes) throws IOException;
    }

    /**
     * As {@link #write(Path, BufferedImage, GenerationRecord, Instant, Sidecar)} without a sidecar, into another
     * store than the local file system: the same PNG bytes and record, {@code timings.write_ms} including the sink.
     *
     * @param fileName the PNG's name in the sink, also the record's {@code file}
     * @throws IOException when the PNG cannot be encoded or the sink fails
     */
    public static Output write(String fileName, Sink sink, BufferedImage image, GenerationRecord record, Instant created)
            throws IOException {
        long t0 = System.nanoTime();
        byte[] png = png(image, record);
        sink.write(fileName, png);
        return new Output(null, png, stored(record, fileName, png, created, t0));
    }

    /** The sidecar of a PNG: the same name with {@code .json} in place of {@code .png} ({@code .json} appended otherwise). */
    public static Path sidecarOf(Path png) {
        String n = png.getFileName().toString();
        String base = n.regionMatches(true, n.length() - 4, ".png", 0, 4) ? n.substring(0, n.length() - 4) : n;
        return png.resolveSibling(base + ".json");
    }

    /** Writes an output text file (UTF-8) atomically, e.g. a study's JSON or CSV, or a contact sheet. */
    public static void writeText(Path file, String text) throws IOException {
        AtomicFiles.write(file, text.getBytes(StandardCharsets.UTF_8));
    }

    /** Writes an image that is no generation (a chart) as PNG without text chunks, atomically. */
    public static void writeImage(Path file, BufferedImage image) throws IOException {
        AtomicFiles.write(file, PngImages.encode(image, Map.of()));
    }

    private static byte[] png(BufferedImage image, GenerationRecord record) throws IOException {
        Objects.requireNonNull(record.infotext(), "the record has no infotext");
        return PngImages.encode(image, Map.of(PngImages.PARAMETERS, record.infotext()));
    }

    private static GenerationRecord stored(GenerationRecord record, String fileName, byte[] png, Instant created,
                                           long t0) {
        GenerationRecord r = record.stored(fileName, Hashes.sha256(png), time(created));
        GenerationRecord.Timings t = r.timings() != null ? r.timings()
                : new GenerationRecord.Timings(null, null, null, null, null, null);
        return r.withTimings(t.withWrite((System.nanoTime() - t0) / 1_000_000));
    }
}
