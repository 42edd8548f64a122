package dev.tenstep.batch.spark;

import dev.tenstep.io.Hashes;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Map;

/**
 * The output folder of a Spark batch on any Hadoop-compatible file system (a local path or {@code file:},
 * {@code hdfs:}, {@code s3a:} with its connector on the class path), through Hadoop's {@link FileSystem} API.
 *
 * <p>Every file is written as a temporary file in the same folder ({@value #TEMP_PREFIX}..., hidden from Spark and
 * Hadoop listings by its leading dot), flushed to storage ({@code hsync}) and renamed over the final name, so a
 * reader sees the old file or the new one, never half of one. The rename is atomic on a local file system
 * (POSIX {@code rename}) and on HDFS; where a file system refuses to rename over an existing file (HDFS), the old
 * file is deleted first, which leaves a moment without the file but never a partial one. On object stores (S3)
 * Hadoop's rename is a copy, whose result also appears whole. A local file system is used without Hadoop's
 * checksum files ({@code .crc}), like any other output of this program.
 */
public final class OutputFiles {
    /** The start of temporary names; {@link #removeTemporaries} deletes what failed tasks left. */
    static final String TEMP_PREFIX = ".tenstep-";

    private static final SecureRandom RANDOM = new SecureRandom();

    private final FileSystem fs;
    private final Path dir;

    private OutputFiles(FileSystem fs, Path dir) {
        this.fs = fs;
        this.dir = dir;
    }

    /**
     * The output folder {@code dir} (a path or URI; a path without scheme is on the default file system, the local
     * one unless {@code fs.defaultFS} says otherwise).
     *
     * @param settings Hadoop settings on top of the site files ({@code spark.hadoop.*} of the Spark configuration,
     *                 prefix removed)
     */
    public static OutputFiles open(String dir, Map<String, String> settings) throws IOException {
        Configuration conf = new Configuration();
        settings.forEach(conf::set);
        Path p = new Path(dir);
        FileSystem fs = p.getFileSystem(conf);
        if (fs instanceof LocalFileSystem local) {
            fs = local.getRaw();
        }
        return new OutputFiles(fs, fs.makeQualified(p));
    }

    /** The folder's qualified URI, e.g. {@code file:/home/me/out}: the same folder on every executor. */
    public String uri() {
        return dir.toString();
    }

    /** Creates the folder (and its parents) if missing. */
    public void create() throws IOException {
        if (!fs.mkdirs(dir)) {
            throw new IOException("cannot create the output folder " + dir);
        }
    }

    /** Whether {@code name} exists with this SHA-256; false when it cannot be read. */
    public boolean intact(String name, String sha256) {
        try {
            byte[] bytes = read(name);
            return bytes != null && Hashes.sha256(bytes).equals(sha256);
        } catch (IOException e) {
            return false;
        }
    }

    /** Whether {@code name} exists as a file. */
    public boolean exists(String name) throws IOException {
        return fs.isFile(new Path(dir, name));
    }

    /** The bytes of {@code name}, or null when there is no such file. */
    public byte[] read(String name) throws IOException {
        try (InputStream in = fs.open(new Path(dir, name))) {
            return in.readAllBytes();
        } catch (FileNotFoundException e) {
            return null;
        }
    }

    /** The UTF-8 text of {@code name}, or null when there is no such file. */
    public String readText(String name) throws IOException {
        byte[] b = read(name);
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    /**
     * Replaces {@code name} with {@code bytes} atomically (see the class comment).
     *
     * @throws IOException naming the file
     */
    public void write(String name, byte[] bytes) throws IOException {
        Path target = new Path(dir, name);
        Path tmp = new Path(dir, TEMP_PREFIX + Long.toUnsignedString(RANDOM.nextLong(), 36) + ".tmp");
        try {
            try (FSDataOutputStream out = fs.create(tmp, false)) {
                out.write(bytes);
                out.hsync();
            }
            if (!fs.rename(tmp, target)) {
                // HDFS's rename does not replace a file: the old one goes first
                if (!fs.delete(target, false) || !fs.rename(tmp, target)) {
                    throw new IOException("the rename of its temporary file failed");
                }
            }
        } catch (IOException e) {
            throw new IOException("cannot write " + target + ": " + e.getMessage(), e);
        } finally {
            try {
                fs.delete(tmp, false);
            } catch (IOException e) {
                // the temporary file stays; removeTemporaries deletes it at the end of the job
            }
        }
    }

    /** Writes UTF-8 text atomically ({@link #write}). */
    public void writeText(String name, String text) throws IOException {
        write(name, text.getBytes(StandardCharsets.UTF_8));
    }

    /** Deletes the temporary files of tasks that were killed while writing; returns how many. */
    public int removeTemporaries() throws IOException {
        int n = 0;
        for (FileStatus s : fs.listStatus(dir)) {
            if (s.isFile() && s.getPath().getName().startsWith(TEMP_PREFIX) && fs.delete(s.getPath(), false)) {
                n++;
            }
        }
        return n;
    }
}
