package dev.tenstep.pipeline;

import dev.tenstep.io.ModelHash;
import dev.tenstep.sampling.ideal.IdealModels;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The models a server can switch between: the diffusers folders ({@code model_index.json}) and the
 * single-file checkpoints ({@code .safetensors}, {@code .ckpt}; not {@code *.vae.safetensors} or
 * {@code *.vae.ckpt}, which are VAEs) directly inside a models folder, plus models named
 * elsewhere that were {@link #pin pinned} (the {@code --model} of {@code serve}, {@code ideal:shapes}).
 *
 * <p>Each entry carries the fields of AUTOMATIC1111's checkpoint list
 * ({@code modules/sd_models.py}, {@code CheckpointInfo}): {@code title}, {@code model_name},
 * {@code hash}, {@code sha256}, {@code filename}. Listing never hashes a file (4 GB take tens of
 * seconds): a file's hash is the one cached beside it by {@link ModelHash}, else null until the file
 * is loaded once. Thread-safe.
 */
public final class ModelCatalog {
    /** What an entry is. */
    public enum Kind {
        /** A diffusers folder. */
        FOLDER,
        /** A single-file checkpoint. */
        FILE,
        /** A built-in or image-folder ideal model ({@code ideal:shapes}, {@code ideal:DIR}). */
        IDEAL
    }

    /**
     * One model.
     *
     * @param kind      folder, file or ideal model
     * @param title     A1111's title: {@code name.safetensors [shorthash]} for a file whose hash is
     *                  known, the file name without it otherwise, the folder name for a folder, the
     *                  name for an ideal model
     * @param modelName the name written as {@code Model:} in infotexts: the file name without its
     *                  extension, the folder name, or the ideal model's name
     * @param hash      A1111's short hash (first 10 hex digits of the SHA-256), or null when not
     *                  computed yet or not a file
     * @param sha256    the full lower-case hex SHA-256 of a file, or null
     * @param filename  the absolute path of the file or folder; the name of an ideal model
     * @param demo      the bundled random-weight demo pipeline
     * @param family    the model family as far as the listing can tell without loading ({@link #family}: {@code SD 1.x},
     *                  {@code SD 2.x}, {@code SDXL}, {@code SDXL refiner}), or null when unknown and for the demo
     */
    public record Entry(Kind kind, String title, String modelName, String hash, String sha256, String filename,
                        boolean demo, String family) {
        /** The path of a file or folder; null for an ideal model. */
        public Path path() {
            return kind == Kind.IDEAL ? null : Path.of(filename);
        }

        /** Whether both entries denote the same model (same kind and file, folder or ideal name). */
        public boolean sameModel(Entry o) {
            return o != null && kind == o.kind && filename.equals(o.filename);
        }

        /**
         * This entry with a known short hash (of a file loaded and hashed after the listing), and its full SHA-256
         * when the hash is known for the file ({@link ModelHash#cachedSha256}: the load computed it).
         */
        public Entry withHash(String shortHash) {
            if (kind != Kind.FILE || shortHash == null || (hash != null && sha256 != null)) {
                return this;
            }
            String sha = ModelHash.cachedSha256(path());
            if (sha == null || !ModelHash.shortHash(sha).equals(hash != null ? hash : shortHash)) {
                sha = null;
            }
            if (hash != null) {
                return sha == null ? this : new Entry(kind, title, modelName, hash, sha, filename, demo, family);
            }
            return new Entry(kind, fileName() + " [" + shortHash + "]", modelName, shortHash, sha, filename, demo,
                    family);
        }

        /** The file or folder name ({@code v1-5-pruned-emaonly.safetensors}), or the ideal model's name. */
        public String fileName() {
            return kind == Kind.IDEAL ? filename : Path.of(filename).getFileName().toString();
        }

        /**
         * Whether an A1111 client's checkpoint name denotes this entry: the title, the file name
         * ({@code name.safetensors}), the model name ({@code name}) or the absolute path, each
         * optionally followed by {@code " [hash]"} (a hash that is given must agree with a known one);
         * or the known short hash or SHA-256 alone.
         */
        public boolean matches(String sent) {
            if (sent == null) {
                return false;
            }
            String t = sent.strip();
            if (t.equals(title)) {
                return true;
            }
            // A1111 also takes a checkpoint's short hash or full SHA-256 alone (its checkpoint aliases)
            if ((hash != null && t.equalsIgnoreCase(hash)) || (sha256 != null && t.equalsIgnoreCase(sha256))) {
                return true;
            }
            int bracket = t.lastIndexOf(" [");
            if (bracket > 0 && t.endsWith("]")) {
                String given = t.substring(bracket + 2, t.length() - 1).strip().toLowerCase(Locale.ROOT);
                t = t.substring(0, bracket).strip();
                if (hash != null && !given.isEmpty() && !hash.equals(given) && !(sha256 != null && sha256.equals(given))) {
                    return false;
                }
            }
            return t.equals(fileName()) || t.equals(modelName) || t.equals(filename);
        }
    }

    private final Path dir;
    private final List<Entry> pinned = new ArrayList<>();
    private List<Entry> scanned;

    /**
     * A catalog of {@code dir} (scanned now).
     *
     * @param dir the models folder; null or a missing folder gives no scanned entries
     * @throws UncheckedIOException if the folder cannot be listed
     */
    public ModelCatalog(Path dir) {
        this.dir = dir;
        this.scanned = scan(dir);
    }

    /** The models folder, or null. */
    public Path dir() {
        return dir;
    }

    /** The scanned entries (sorted by file name), then the pinned ones that are not among them. */
    public synchronized List<Entry> entries() {
        List<Entry> all = new ArrayList<>(scanned);
        for (Entry p : pinned) {
            if (all.stream().noneMatch(p::sameModel)) {
                all.add(p);
            }
        }
        return List.copyOf(all);
    }

    /**
     * Rescans the folder (new and removed files, hashes cached since) and re-reads the pinned
     * files' cached hashes.
     *
     * @return {@link #entries()}
     * @throws UncheckedIOException if the folder cannot be listed
     */
    public List<Entry> refresh() {
        List<Entry> fresh = scan(dir);
        synchronized (this) {
            scanned = fresh;
            pinned.replaceAll(e -> e.kind == Kind.IDEAL || !Files.exists(e.path()) ? e : entryOf(e.path()));
            return entries();
        }
    }

    /** Lists {@code e} even when it is not inside the folder (e.g. {@code serve --model} elsewhere, ideal models). */
    public synchronized void pin(Entry e) {
        if (pinned.stream().noneMatch(e::sameModel)) {
            pinned.add(e);
        }
    }

    /**
     * The entry an A1111 checkpoint name denotes ({@link Entry#matches}): an exact title first,
     * else the first entry the name matches in list order.
     */
    public Optional<Entry> find(String sent) {
        List<Entry> all = entries();
        if (sent == null || sent.isBlank()) {
            return Optional.empty();
        }
        return all.stream().filter(e -> e.title.equals(sent.strip())).findFirst()
                .or(() -> all.stream().filter(e -> e.matches(sent)).findFirst());
    }

    /** The first scanned entry that is not the demo pipeline: the model {@code serve} starts with. */
    public synchronized Optional<Entry> defaultEntry() {
        return scanned.stream().filter(e -> !e.demo).findFirst();
    }

    /**
     * The folders with a {@code model_index.json} and the {@code .safetensors}/{@code .ckpt}
     * files (not {@code *.vae.*}, hidden or temporary files) directly inside {@code dir}, sorted by
     * name, the built-in {@value #BUILTIN} after the user's own models (so a model a user adds is the one served
     * first); hashes from the caches beside the files only.
     *
     * @throws UncheckedIOException if the folder cannot be listed
     */
    public static List<Entry> scan(Path dir) {
        if (dir == null || !Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> !p.getFileName().toString().startsWith("."))
                    .filter(p -> Files.isRegularFile(p.resolve("model_index.json")) || isCheckpointFile(p))
                    .sorted(java.util.Comparator.comparing((Path p) -> isBuiltin(p)).thenComparing(p -> p))
                    .map(ModelCatalog::entryOf)
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list the models folder " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * The folder name of the model that ships in the repository ({@code models/tenstep-shapes}, trained by
     * {@code tenstep train}, docs/trained-model.md): served when the user has no model of their own.
     */
    public static final String BUILTIN = "tenstep-shapes";

    /** Whether {@code p} is the built-in model's folder ({@value #BUILTIN}). */
    public static boolean isBuiltin(Path p) {
        return p.getFileName() != null && p.getFileName().toString().equals(BUILTIN) && Files.isDirectory(p);
    }

    /** A {@code .safetensors} or {@code .ckpt} regular file that is not a VAE ({@code *.vae.safetensors}, {@code *.vae.ckpt}). */
    public static boolean isCheckpointFile(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return Files.isRegularFile(p) && (n.endsWith(".safetensors") || n.endsWith(".ckpt"))
                && !n.endsWith(".vae.safetensors") && !n.endsWith(".vae.ckpt");
    }

    /**
     * The entry of a diffusers folder or a single-file checkpoint ({@code .safetensors},
     * {@code .ckpt}, {@code .pt}, {@code .pth}), with a file's hash only when cached beside it.
     */
    public static Entry entryOf(Path path) {
        Path abs = path.toAbsolutePath().normalize();
        if (Files.isDirectory(abs)) {
            String name = abs.getFileName().toString();
            boolean demo = DemoModelWriter.isDemo(abs);
            // the demo has SD's architecture but random weights: its banner says what it is, no family label
            return new Entry(Kind.FOLDER, name, name, null, null, abs.toString(), demo, demo ? null : family(abs));
        }
        String sha = ModelHash.cachedSha256(abs);
        String shortHash = sha == null ? null : ModelHash.shortHash(sha);
        String file = abs.getFileName().toString();
        return new Entry(Kind.FILE, shortHash == null ? file : file + " [" + shortHash + "]",
                SingleFileLoader.modelName(abs), shortHash, sha, abs.toString(), false, family(abs));
    }

    /**
     * The family of a diffusers folder or single file, read cheaply enough for every listing: a folder's
     * {@code model_index.json} ({@code StableDiffusionXLPipeline}: SDXL) and else its {@code text_encoder/config.json}
     * ({@code hidden_act} {@code gelu}: SD 2.x's OpenCLIP, {@code quick_gelu}: SD 1.x's CLIP, as {@link
     * StableDiffusionPipeline#family}); a {@code .safetensors} file's header names ({@link
     * dev.tenstep.model.singlefile.SingleFileCheckpoint#family}). Null when unknown: a {@code .ckpt} (its names are in a
     * pickle, read only at load), an unreadable or unrecognised model; the listing never fails on it.
     */
    static String family(Path abs) {
        try {
            if (Files.isDirectory(abs)) {
                dev.tenstep.model.config.ModelIndex index = dev.tenstep.model.config.Configs.read(
                        abs.resolve("model_index.json"), dev.tenstep.model.config.ModelIndex.class);
                if (index.isXl()) {
                    return dev.tenstep.model.singlefile.SingleFileCheckpoint.SDXL;
                }
                Path te = abs.resolve("text_encoder/config.json");
                if (!Files.isRegularFile(te)) {
                    return null;
                }
                String act = dev.tenstep.model.config.Configs.read(te, dev.tenstep.model.config.TextEncoderConfig.class)
                        .hiddenAct();
                return act.equals("gelu") ? dev.tenstep.model.singlefile.SingleFileCheckpoint.SD2
                        : act.equals("quick_gelu") ? dev.tenstep.model.singlefile.SingleFileCheckpoint.SD1 : null;
            }
            if (abs.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors")) {
                try (dev.tenstep.io.SafeTensors st = dev.tenstep.io.SafeTensors.open(abs)) {
                    return dev.tenstep.model.singlefile.SingleFileCheckpoint.family(st.tensors().keySet());
                }
            }
            return null;
        } catch (IOException | RuntimeException e) {
            // a broken model is listed all the same: loading it names the problem
            return null;
        }
    }

    /**
     * The entry of an ideal model ({@code ideal:shapes}, {@code ideal:DIR}).
     *
     * @throws IllegalArgumentException if {@code name} lacks the {@code ideal:} prefix
     */
    public static Entry ideal(String name) {
        if (!IdealModels.isIdeal(name)) {
            throw new IllegalArgumentException("not an ideal model name (ideal:shapes or ideal:DIR): " + name);
        }
        return new Entry(Kind.IDEAL, name, name, null, null, name, false, null);
    }

    /**
     * An entry for a model known only by the name its pipeline reports (a server started on one
     * already loaded model, as the tests do): an ideal model for {@code ideal:...}, else a folder.
     */
    public static Entry named(String name) {
        return IdealModels.isIdeal(name) ? ideal(name) : new Entry(Kind.FOLDER, name, name, null, null, name, false, null);
    }
}
