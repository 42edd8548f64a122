package dev.tenstep.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystemException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Durable atomic file writes: a temporary file in the same folder, fsync, rename over the target,
 * fsync of the folder. A process killed at any moment leaves either the old file or the new one,
 * never a half-written one. Files are created readable by everyone ({@code rw-r--r--}, less the
 * umask), like any other output file, not with the owner-only mode of temporary files.
 */
public final class AtomicFiles {
    private AtomicFiles() {
    }

    /**
     * Writes {@code bytes} to {@code file}, creating missing parent folders.
     *
     * @throws IOException naming {@code file} (not the temporary file) when it cannot be written,
     *                     e.g. it is a folder or its folder is not writable
     */
    public static void write(Path file, byte[] bytes) throws IOException {
        checkWritable(file);
        Path dir = file.toAbsolutePath().getParent();
        Path tmp;
        try {
            Files.createDirectories(dir);
            tmp = createTemp(dir, file.getFileName().toString());
        } catch (IOException e) {
            throw new IOException("cannot write " + file + ": " + reason(e), e);
        }
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer buf = ByteBuffer.wrap(bytes);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            makeReadable(tmp);
            try {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
            syncDir(dir);
        } catch (IOException e) {
            throw new IOException("cannot write " + file + ": " + reason(e), e);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /**
     * Fails early (before expensive work) when {@code file} can certainly not be written: it is a
     * folder, or its nearest existing ancestor is not a writable folder.
     *
     * @throws IOException naming the file and the reason
     */
    public static void checkWritable(Path file) throws IOException {
        if (Files.isDirectory(file)) {
            throw new IOException("cannot write " + file + ": it is a folder");
        }
        Path p = file.toAbsolutePath().getParent();
        while (p != null && !Files.exists(p)) {
            p = p.getParent();
        }
        if (p == null || !Files.isDirectory(p) || !Files.isWritable(p)) {
            throw new IOException("cannot write " + file + ": " + (p == null ? "no existing parent folder"
                    : p + (Files.isDirectory(p) ? " is not writable" : " is not a folder")));
        }
    }

    private static final String TEMP_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789";
    /** Longest temporary name; shorter when the final name is shorter. */
    static final int MAX_TEMP_NAME = 20;

    /**
     * Creates an empty temporary file in {@code dir} whose name is never longer (in UTF-8 bytes, what file systems
     * limit) than {@code finalName}, so any name the file system accepts for the result also works for the
     * temporary: {@code .} and random letters (hidden from listings), at most {@value #MAX_TEMP_NAME} bytes; a
     * one-byte final name gets a one-letter temporary name, never the final name itself.
     */
    static Path createTemp(Path dir, String finalName) throws IOException {
        int len = Math.max(1, Math.min(MAX_TEMP_NAME, finalName.getBytes(StandardCharsets.UTF_8).length));
        ThreadLocalRandom rnd = ThreadLocalRandom.current();
        for (int attempt = 0; ; attempt++) {
            StringBuilder b = new StringBuilder(len);
            if (len > 1) {
                b.append('.');
            }
            while (b.length() < len) {
                b.append(TEMP_CHARS.charAt(rnd.nextInt(TEMP_CHARS.length())));
            }
            if (b.toString().equals(finalName)) {
                // a one-letter name drawn as its own temporary: the move would be a no-op and the
                // clean-up of the temporary would delete the written file
                continue;
            }
            try {
                return Files.createFile(dir.resolve(b.toString()));
            } catch (FileAlreadyExistsException e) {
                if (attempt >= 100) {
                    throw e;
                }
            }
        }
    }

    private static String reason(IOException e) {
        if (e instanceof FileSystemException fse && fse.getReason() != null) {
            return fse.getReason();
        }
        return e.getClass().getSimpleName() + (e.getMessage() != null ? " " + e.getMessage() : "");
    }

    private static void makeReadable(Path p) {
        try {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-r--r--"));
        } catch (IOException | UnsupportedOperationException e) {
            // not a POSIX file system: keep the default mode
        }
    }

    /** Makes a rename durable (best effort: not every platform can open a folder). */
    private static void syncDir(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // best effort
        }
    }
}
