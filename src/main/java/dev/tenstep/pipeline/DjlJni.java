package dev.tenstep.pipeline;

import ai.djl.engine.Engine;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

/**
 * The PyTorch JNI library DJL loaded into this process, and whether it is one this project built with
 * the bf16 patch ({@code scripts/build-djl-jni.sh}, docs/gpu.md).
 *
 * <p>Why it matters: DJL 0.36.0's own JNI maps DJL's data types to torch's in a {@code switch} without
 * {@code BFLOAT16}; its first bf16 array aborts the JVM. The patched JNI adds both mappings. Which one
 * was loaded is detected, never assumed: the library is found in {@code /proc/self/maps} (the file the
 * dynamic linker actually mapped, whichever folder DJL chose), and counts as patched only when the
 * build script's record {@value #RECORD} lies beside it, says {@code bf16_patch=yes}, and its
 * {@code library_sha256} equals the SHA-256 of that very file (so a record left beside another library
 * does not count). Reading a file cannot abort the JVM, unlike a bf16 probe on an unpatched JNI.
 *
 * @param library  the loaded JNI, or null when it could not be found
 * @param patched  whether it is a build with the bf16 patch
 * @param reason   for an unpatched one: why (one clause for the refusal message); null when patched
 * @param record   the build record's entries (empty without one): libtorch version, C++ standard, ...
 */
public record DjlJni(Path library, boolean patched, String reason, Map<String, String> record) {
    /** The build record's file name, beside the JNI. */
    public static final String RECORD = "tenstep-djl-jni.properties";

    /**
     * The JNI of the loaded PyTorch engine (starts the engine if it is not running).
     * Linux only: elsewhere there is no {@code /proc/self/maps}, so the JNI counts as unpatched.
     */
    public static DjlJni loaded() {
        Engine.getEngine("PyTorch");
        List<String> maps;
        try {
            maps = Files.readAllLines(Path.of("/proc/self/maps"));
        } catch (IOException | RuntimeException e) {
            return new DjlJni(null, false, "cannot tell which DJL JNI was loaded (no /proc/self/maps: not Linux)", Map.of());
        }
        Path lib = fromMaps(maps);
        if (lib == null) {
            return new DjlJni(null, false, "no libdjl_torch is mapped into this process", Map.of());
        }
        return inspect(lib);
    }

    /** The first mapped file whose name ends in {@code libdjl_torch.so} in {@code /proc/self/maps} lines, or null. */
    static Path fromMaps(List<String> lines) {
        for (String line : lines) {
            int slash = line.indexOf('/');
            if (slash < 0) {
                continue;
            }
            String path = line.substring(slash).trim();
            if (path.endsWith(" (deleted)")) {
                continue;
            }
            if (path.endsWith("libdjl_torch.so")) {
                return Path.of(path);
            }
        }
        return null;
    }

    /**
     * Whether {@code library} is a JNI built with the bf16 patch, from the record beside it.
     *
     * @param library a JNI file (e.g. {@code .../lib/0.36.0-libdjl_torch.so})
     */
    public static DjlJni inspect(Path library) {
        Path recordFile = library.resolveSibling(RECORD);
        if (!Files.isRegularFile(recordFile)) {
            return new DjlJni(library, false, "the loaded JNI " + library + " has no " + RECORD
                    + " beside it (DJL's own JNI, or one not built by scripts/build-djl-jni.sh)", Map.of());
        }
        Map<String, String> record = new TreeMap<>();
        try (InputStream in = Files.newInputStream(recordFile)) {
            Properties p = new Properties();
            p.load(in);
            p.stringPropertyNames().forEach(k -> record.put(k, p.getProperty(k).trim()));
        } catch (IOException | IllegalArgumentException e) {
            return new DjlJni(library, false, "cannot read " + recordFile + ": " + e.getMessage(), Map.of());
        }
        Map<String, String> rec = Map.copyOf(record);
        if (!"yes".equals(record.get("bf16_patch"))) {
            return new DjlJni(library, false, recordFile + " does not say bf16_patch=yes", rec);
        }
        String expected = record.getOrDefault("library_sha256", "");
        String actual;
        try {
            actual = sha256(library);
        } catch (IOException e) {
            return new DjlJni(library, false, "cannot read the loaded JNI " + library + ": " + e.getMessage(), rec);
        }
        if (!expected.equalsIgnoreCase(actual)) {
            return new DjlJni(library, false, "the loaded JNI " + library + " is not the one " + recordFile
                    + " describes (SHA-256 " + actual + ", recorded " + (expected.isEmpty() ? "none" : expected)
                    + "): rebuild it with scripts/build-djl-jni.sh", rec);
        }
        return new DjlJni(library, true, null, rec);
    }

    /** {@code libtorch 1.13.0 (libtorch-dev 1.13.1+dfsg-4)} from the record, or "" without one. */
    public String libtorchDescription() {
        String v = record.get("libtorch_version");
        if (v == null) {
            return "";
        }
        String pkg = record.get("libtorch_package");
        return "libtorch " + v + (pkg == null ? "" : " (" + pkg + ")");
    }

    static String sha256(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) {
                d.update(buf, 0, n);
            }
            return HexFormat.of().formatHex(d.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
