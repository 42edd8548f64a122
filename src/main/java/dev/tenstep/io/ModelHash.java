package dev.tenstep.io;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.function.Consumer;

/**
 * The SHA-256 of a checkpoint file and AUTOMATIC1111's short {@code Model hash} (its first 10 hex
 * digits, {@code modules/hashes.py}). Hashing a 4 GB file takes tens of seconds, so the result is
 * cached beside the file as {@code <file>.sha256} ({@code <hex> <size> <mtime ms>}) and reused
 * while size and modification time are unchanged. When the folder is read-only the hash is
 * still returned, only not cached beside it; every hash computed is also kept for the process (same size and
 * modification time), so {@link #cachedSha256} knows it either way.
 */
public final class ModelHash {
    /** Suffix of the cache file written beside the checkpoint. */
    public static final String CACHE_SUFFIX = ".sha256";
    private static final int CHUNK = 1 << 20;
    /** Hashes computed by this process: absolute path -> {@code <hex> <size> <mtime ms>}, as the cache file. */
    private static final java.util.concurrent.ConcurrentMap<Path, String> COMPUTED = new java.util.concurrent.ConcurrentHashMap<>();

    private ModelHash() {
    }

    /** A1111's short hash: the first 10 hex digits of the SHA-256. */
    public static String shortHash(String sha256) {
        return sha256.substring(0, 10);
    }

    /**
     * The lower-case hex SHA-256 of {@code file}, from the cache when it is current, else computed
     * and cached.
     *
     * @param progress receives a line now and then while a file is hashed (e.g. "hashing x: 40%"),
     *                 never for a cached hash; may be null
     * @throws IOException if the file cannot be read
     */
    public static String sha256(Path file, Consumer<String> progress) throws IOException {
        long size = Files.size(file);
        long mtime = Files.getLastModifiedTime(file).toMillis();
        Path cache = file.resolveSibling(file.getFileName() + CACHE_SUFFIX);
        String cached = readCache(cache, size, mtime);
        if (cached != null) {
            return cached;
        }
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JVM lacks SHA-256", e);
        }
        byte[] buf = new byte[CHUNK];
        long done = 0;
        long lastReport = System.nanoTime();
        try (InputStream in = Files.newInputStream(file)) {
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
                done += n;
                if (progress != null && System.nanoTime() - lastReport > 2_000_000_000L) {
                    lastReport = System.nanoTime();
                    progress.accept(String.format(java.util.Locale.ROOT, "hashing %s: %d%% of %.1f GB", file.getFileName(),
                            done * 100 / Math.max(1, size), size / 1e9));
                }
            }
        }
        String hex = HexFormat.of().formatHex(md.digest());
        COMPUTED.put(file.toAbsolutePath().normalize(), hex + " " + size + " " + mtime);
        if (writable(file.toAbsolutePath().getParent())) {
            try {
                AtomicFiles.write(cache, (hex + " " + size + " " + mtime + "\n").getBytes(StandardCharsets.UTF_8));
            } catch (IOException | RuntimeException e) {
                // cannot write there: the hash is still right, only recomputed next time
            }
        }
        return hex;
    }

    /**
     * The SHA-256 of {@code file} from its cache beside it, or from this process's own computation (a read-only
     * folder has no cache), when current (same size and modification time), else null; never reads the file
     * itself, so listing many large checkpoints stays instant.
     */
    public static String cachedSha256(Path file) {
        try {
            long size = Files.size(file);
            long mtime = Files.getLastModifiedTime(file).toMillis();
            String known = COMPUTED.get(file.toAbsolutePath().normalize());
            String hex = known == null ? null : parse(known, size, mtime);
            return hex != null ? hex : readCache(file.resolveSibling(file.getFileName() + CACHE_SUFFIX), size, mtime);
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * Whether the cache may be written into {@code dir}: it must be writable and, on POSIX, carry
     * the owner's write bit, so a folder marked read-only stays untouched even for root (whom the
     * access check lets write anywhere).
     */
    private static boolean writable(Path dir) {
        if (dir == null || !Files.isWritable(dir)) {
            return false;
        }
        try {
            return Files.getPosixFilePermissions(dir).contains(java.nio.file.attribute.PosixFilePermission.OWNER_WRITE);
        } catch (UnsupportedOperationException | IOException e) {
            return true;
        }
    }

    private static String readCache(Path cache, long size, long mtime) {
        try {
            return parse(Files.readString(cache, StandardCharsets.UTF_8), size, mtime);
        } catch (IOException | RuntimeException e) {
            // absent or unreadable cache: compute
        }
        return null;
    }

    /** The hex of a {@code <hex> <size> <mtime ms>} record when size and time match, else null. */
    private static String parse(String record, long size, long mtime) {
        String[] parts = record.trim().split("\\s+");
        try {
            if (parts.length == 3 && parts[0].matches("[0-9a-f]{64}") && Long.parseLong(parts[1]) == size
                    && Long.parseLong(parts[2]) == mtime) {
                return parts[0];
            }
        } catch (NumberFormatException e) {
            // a damaged record: none
        }
        return null;
    }
}
