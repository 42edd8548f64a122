package dev.tenstep.pipeline;

import dev.tenstep.io.SafeTensors;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The LoRA files a server can apply, as AUTOMATIC1111 lists them ({@code /sdapi/v1/loras}): every
 * {@code .safetensors} file under the LoRA folder ({@code models/Lora}, A1111's folder, or
 * {@code --lora-dir}), subfolders included, named by its file name without the extension; the alias is
 * kohya's {@code ss_output_name} from the metadata when present. Only headers are read: listing never
 * loads factors or hashes files. Thread-safe; {@link #refresh()} rescans (A1111's
 * {@code /sdapi/v1/refresh-loras}).
 */
public final class LoraCatalog {
    /**
     * One file.
     *
     * @param name     the file name without {@code .safetensors}: what {@code <lora:NAME:...>} names
     * @param alias    {@code ss_output_name}, or the name
     * @param path     the file
     * @param metadata the header's {@code __metadata__} strings (empty when the header cannot be read)
     */
    public record Entry(String name, String alias, Path path, Map<String, String> metadata) {
    }

    private final Path dir;
    private List<Entry> entries;

    /** A catalog of {@code dir} (which need not exist: then it is empty). */
    public LoraCatalog(Path dir) {
        this.dir = dir;
    }

    /** The folder scanned. */
    public Path dir() {
        return dir;
    }

    /** The entries, scanned on first use, sorted by name. */
    public synchronized List<Entry> entries() {
        if (entries == null) {
            entries = scan(dir);
        }
        return entries;
    }

    /** Rescans the folder. */
    public synchronized List<Entry> refresh() {
        entries = scan(dir);
        return entries;
    }

    /**
     * The entry a prompt tag names: its name, else its alias (case-sensitive first, then ignoring case,
     * as file systems differ).
     */
    public Optional<Entry> find(String name) {
        List<Entry> all = entries();
        for (java.util.function.BiPredicate<String, String> eq : List.<java.util.function.BiPredicate<String, String>>of(
                String::equals, String::equalsIgnoreCase)) {
            Optional<Entry> e = all.stream().filter(x -> eq.test(x.name(), name)).findFirst()
                    .or(() -> all.stream().filter(x -> eq.test(x.alias(), name)).findFirst());
            if (e.isPresent()) {
                return e;
            }
        }
        return Optional.empty();
    }

    /** Lists {@code dir}'s LoRA files (none when it is absent). */
    public static List<Entry> scan(Path dir) {
        List<Entry> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (Stream<Path> files = Files.walk(dir, 8)) {
            for (Path p : files.filter(Files::isRegularFile)
                    .filter(f -> f.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors"))
                    .sorted(Comparator.comparing(f -> f.getFileName().toString())).toList()) {
                String file = p.getFileName().toString();
                String name = file.substring(0, file.length() - ".safetensors".length());
                Map<String, String> meta;
                try (SafeTensors st = SafeTensors.open(p)) {
                    meta = Map.copyOf(st.metadata());
                } catch (IOException | RuntimeException e) {
                    meta = Map.of();
                }
                String alias = meta.getOrDefault("ss_output_name", name);
                out.add(new Entry(name, alias, p, meta));
            }
        } catch (IOException e) {
            return out;
        }
        return List.copyOf(out);
    }
}
