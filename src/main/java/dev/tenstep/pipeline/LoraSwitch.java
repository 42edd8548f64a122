package dev.tenstep.pipeline;

import ai.djl.ndarray.NDManager;
import dev.tenstep.model.lora.LoraBinding;
import dev.tenstep.model.lora.LoraMerge;
import dev.tenstep.model.lora.LoraNetwork;
import dev.tenstep.model.nn.Patchable;
import dev.tenstep.pipeline.prompt.LoraTags;
import dev.tenstep.pipeline.prompt.PromptSyntaxException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The LoRAs merged into one loaded Stable Diffusion model, switched between requests without reloading it.
 * A request's LoRAs are the {@code <lora:NAME:TE:UNET>} tags of its prompt ({@link LoraTags}), each naming a file
 * of the {@link LoraCatalog}. A generation holds a {@link Lease} on its set of LoRAs: generations with the same
 * set run together; one with another set waits until they are done, then the switch restores the base weights
 * (dropping the merged ones: bit for bit, see {@link LoraMerge}) and merges the new set, in arrival order
 * (a waiting switch is not overtaken by later requests for the current set).
 *
 * <p>Decision (issue 20): merge, not add the delta on the fly. A merge costs one pass over the LoRA's layers per
 * switch (reading the file, {@code up @ down}, one add per layer) and nothing per step, where a branch
 * {@code x W^T + m s (x down^T) up^T} costs two more matmuls in every changed layer at every UNet call; a request
 * that changes nothing (same LoRAs, or none after none) costs nothing. Memory: the merged weights of the changed
 * layers beside the base weights while a set is applied ({@link Switch#patchBytes}). docs/prompts.md has the
 * measured cost.
 *
 * <p>Request checks ({@link #check}) refuse what would change the picture unseen: a tag that cannot be read, a
 * name that is no file of the folder (A1111 only warns), a LoRA for another architecture (by its metadata or
 * by a factor that does not fit the weight it names), a tag in the negative prompt (A1111 reads extra
 * networks from the prompt only). Keys that match no module of the model are applied without (as A1111 does)
 * and reported in the generation's warnings with their count and first names. Thread-safe.
 */
public final class LoraSwitch implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(LoraSwitch.class);
    /** How many unmatched key names a warning lists. */
    static final int KEYS_LISTED = 5;

    private final String modelName;
    private final LoraNetwork.Family family;
    private final Map<LoraNetwork.Component, Map<String, Patchable>> layers;
    private final Map<LoraNetwork.Component, Map<String, long[]>> shapes;
    /** The UNet's block layout, for SDXL kohya files' SGM module names; null binds diffusers names only. */
    private final dev.tenstep.model.singlefile.UNetLayout unetLayout;
    private final NDManager manager;
    private volatile LoraCatalog catalog;
    /** What reading and binding each file version found (small: hash, key names, refusal). */
    private final Map<FileKey, Checked> checked = new ConcurrentHashMap<>();

    private final Object lock = new Object();
    private final ArrayDeque<Object> waiting = new ArrayDeque<>();
    /** The applied set (empty = the base model) and the generations using it. */
    private List<Applied> current = List.of();
    private int active;
    private LoraMerge merge;
    private Switch lastSwitch;
    private boolean closed;
    /** The leases the calling thread holds (a nested lease on the same set is granted at once). */
    private final ThreadLocal<int[]> heldByThread = ThreadLocal.withInitial(() -> new int[1]);

    /**
     * @param modelName the model's name (in messages)
     * @param family    the model's family (a LoRA whose metadata names another is refused)
     * @param layers    per component, the model's patchable layers by weight name
     * @param manager   the model's manager: merged weights live in a sub-manager of it, on its device
     */
    public LoraSwitch(String modelName, LoraNetwork.Family family, Map<LoraNetwork.Component, Map<String, Patchable>> layers,
                      NDManager manager) {
        this(modelName, family, layers, null, manager);
    }

    /**
     * As {@link #LoraSwitch(String, LoraNetwork.Family, Map, NDManager)}, with the UNet's block layout
     * ({@link dev.tenstep.model.singlefile.UNetLayout#of}) through which kohya UNet names in the original SGM layout
     * (SDXL files) are bound ({@link LoraBinding#bind(LoraNetwork, LoraNetwork.Family, Map,
     * dev.tenstep.model.singlefile.UNetLayout)}); null binds diffusers names only.
     */
    public LoraSwitch(String modelName, LoraNetwork.Family family, Map<LoraNetwork.Component, Map<String, Patchable>> layers,
                      dev.tenstep.model.singlefile.UNetLayout unetLayout, NDManager manager) {
        this.modelName = modelName;
        this.family = family;
        this.layers = layers;
        this.shapes = LoraBinding.shapes(layers);
        this.unetLayout = unetLayout;
        this.manager = manager;
    }

    /** The folder whose files {@code <lora:NAME>} names, or null when none is set (then every tag is refused). */
    public LoraCatalog catalog() {
        return catalog;
    }

    /** Sets the LoRA folder (the CLI's {@code --lora-dir} or {@code models/Lora}; a server shares one). */
    public void setCatalog(LoraCatalog c) {
        this.catalog = c;
    }

    /** The model family LoRAs must be made for. */
    public LoraNetwork.Family family() {
        return family;
    }

    /**
     * A file version: its path, size and modification time (a file replaced under the same name is read again).
     */
    record FileKey(Path path, long size, long modified) {
        static FileKey of(Path p) {
            try {
                return new FileKey(p.toAbsolutePath().normalize(), Files.size(p), Files.getLastModifiedTime(p).toMillis());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the LoRA file " + p + ": " + e.getMessage(), e);
            }
        }
    }

    /**
     * What reading and binding a file found.
     *
     * @param hash          A1111's LoRA hash ({@link LoraNetwork#hash}), 64 hex digits
     * @param unmatchedKeys keys naming no module of this model (applied without)
     * @param refusal       why the file cannot be applied to this model, or null
     */
    record Checked(String hash, List<String> unmatchedKeys, String refusal) {
    }

    /**
     * One LoRA of a request: its tag, the file it names, that file's version.
     *
     * @param tag   the {@code <lora:...>} tag (name as written, multipliers)
     * @param entry the catalog entry
     * @param key   the file's version
     */
    record Applied(LoraTags.Lora tag, LoraCatalog.Entry entry, FileKey key) {
    }

    /**
     * The cost of the last switch.
     *
     * @param loras       LoRAs merged (0: back to the base model)
     * @param restoreMs   dropping the previous merge (restoring the base weights)
     * @param readMs      reading and binding the files (onto the model's device)
     * @param mergeMs     computing and adding the deltas
     * @param layers      layers that compute with a merged weight
     * @param patchBytes  device memory of the merged weights
     */
    public record Switch(int loras, double restoreMs, double readMs, double mergeMs, int layers, long patchBytes) {
        /** Restore, read and merge together. */
        public double totalMs() {
            return restoreMs + readMs + mergeMs;
        }
    }

    /** The cost of the last switch, or null before the first. */
    public Switch lastSwitch() {
        synchronized (lock) {
            return lastSwitch;
        }
    }

    /**
     * The request errors of a prompt's and negative prompt's LoRA tags: reading the tags, the names (each a file of
     * the folder), each file against this model (read once per file version). Empty when the prompt has no tag.
     */
    public List<FieldError> check(String prompt, String negativePrompt) {
        List<FieldError> errors = new ArrayList<>();
        if (negativePrompt != null && !negativePrompt.isEmpty()) {
            try {
                if (!LoraTags.parse(negativePrompt).loras().isEmpty()) {
                    errors.add(new FieldError("negative_prompt", "<lora:...> tags are read from the prompt only, as "
                            + "AUTOMATIC1111 reads them; move them to the prompt"));
                }
            } catch (PromptSyntaxException e) {
                errors.add(new FieldError("negative_prompt", e.getMessage()));
            }
        }
        List<LoraTags.Lora> tags;
        try {
            tags = LoraTags.parse(prompt).loras();
        } catch (PromptSyntaxException e) {
            errors.add(new FieldError("prompt", e.getMessage()));
            return errors;
        }
        for (LoraTags.Lora tag : tags) {
            try {
                LoraCatalog.Entry entry = find(tag);
                Checked c = checked(entry);
                if (c.refusal() != null) {
                    errors.add(new FieldError("prompt", c.refusal()));
                }
            } catch (InvalidRequestException e) {
                errors.addAll(e.fieldErrors());
            } catch (UncheckedIOException e) {
                errors.add(new FieldError("prompt", e.getMessage()));
            }
        }
        return errors;
    }

    /** The catalog entry a tag names. */
    private LoraCatalog.Entry find(LoraTags.Lora tag) {
        LoraCatalog c = catalog;
        if (c == null) {
            throw InvalidRequestException.of("prompt", "<lora:" + tag.name() + ">: no LoRA folder is set for this model "
                    + "(the command's --lora-dir, default models/Lora)");
        }
        return c.find(tag.name()).orElseThrow(() -> {
            List<String> names = c.entries().stream().map(LoraCatalog.Entry::name).toList();
            String known = names.isEmpty() ? "the folder has no .safetensors file"
                    : "known: " + String.join(", ", names.subList(0, Math.min(10, names.size())))
                    + (names.size() > 10 ? " and " + (names.size() - 10) + " more" : "");
            return InvalidRequestException.of("prompt", "unknown LoRA '" + tag.name() + "': no " + tag.name()
                    + ".safetensors in " + c.dir() + " (" + known + ")");
        });
    }

    /** Reads and binds a file once per version (on the CPU: only the outcome is kept). */
    private Checked checked(LoraCatalog.Entry entry) {
        FileKey key = FileKey.of(entry.path());
        return checked.computeIfAbsent(key, k -> {
            try (NDManager m = NDManager.newBaseManager(ai.djl.Device.cpu()); LoraNetwork n = LoraNetwork.read(entry.path(), m)) {
                String hash = n.hash();
                try {
                    LoraBinding b = LoraBinding.bind(n, family, shapes, unetLayout);
                    List<String> unmatched = new ArrayList<>(n.unusedKeys());
                    unmatched.addAll(b.unmatchedKeys());
                    if (b.targets().isEmpty()) {
                        return new Checked(hash, unmatched, "LoRA '" + entry.name() + "' changes nothing in " + modelName
                                + ": none of its " + n.modules().size() + " modules names a layer of the model (first keys: "
                                + unmatched.stream().limit(KEYS_LISTED).toList() + ")");
                    }
                    return new Checked(hash, List.copyOf(unmatched), null);
                } catch (IllegalArgumentException e) {
                    return new Checked(hash, List.of(), e.getMessage());
                }
            } catch (IOException | IllegalArgumentException e) {
                return new Checked("", List.of(), "LoRA '" + entry.name() + "' (" + entry.path().getFileName()
                        + ") cannot be read: " + e.getMessage());
            }
        });
    }

    /** The LoRAs of a prompt, resolved to files; throws the request errors {@link #check} reports. */
    private List<Applied> resolve(String prompt) {
        List<LoraTags.Lora> tags;
        try {
            tags = LoraTags.parse(prompt).loras();
        } catch (PromptSyntaxException e) {
            throw InvalidRequestException.of("prompt", e.getMessage());
        }
        List<Applied> out = new ArrayList<>();
        for (LoraTags.Lora tag : tags) {
            LoraCatalog.Entry e = find(tag);
            out.add(new Applied(tag, e, FileKey.of(e.path())));
        }
        return List.copyOf(out);
    }

    /** Two sets are the same when they name the same file versions with the same multipliers, in the same order. */
    private static boolean sameSet(List<Applied> a, List<Applied> b) {
        if (a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            Applied x = a.get(i);
            Applied y = b.get(i);
            if (!x.key().equals(y.key()) || x.tag().te() != y.tag().te() || x.tag().unet() != y.tag().unet()) {
                return false;
            }
        }
        return true;
    }

    /**
     * Whether the LoRAs of {@code prompt} are the ones merged now (the text encoder and UNet compute with them).
     *
     * @throws InvalidRequestException if a tag cannot be read or names no file
     */
    public boolean isApplied(String prompt) {
        List<Applied> want = resolve(prompt);
        synchronized (lock) {
            return sameSet(want, current);
        }
    }

    /**
     * Merges the prompt's LoRAs (switching from the applied set when needed; none = the base model) and holds them
     * until the lease is closed. Waits while generations with another set run; a thread that holds a lease on the
     * same set gets another at once.
     *
     * @throws InvalidRequestException if a tag cannot be read, names no file, or its file cannot be applied to this
     *                                 model
     * @throws CancellationException   if the thread is interrupted while waiting (the flag is left set)
     * @throws IllegalStateException   if the thread already holds a lease on another set (it would wait for itself)
     */
    public Lease use(String prompt) {
        List<Applied> want = resolve(prompt);
        for (Applied a : want) {
            Checked c = checked(a.entry());
            if (c.refusal() != null) {
                throw InvalidRequestException.of("prompt", c.refusal());
            }
        }
        Object ticket = new Object();
        synchronized (lock) {
            if (closed) {
                throw new IllegalStateException(modelName + " is closed");
            }
            if (heldByThread.get()[0] > 0) {
                // this thread's generation runs with the current set: waiting would wait for itself
                if (!sameSet(want, current)) {
                    throw new IllegalStateException("a thread that holds the LoRAs " + appliedNames()
                            + " asked for other LoRAs: release the first lease before");
                }
                active++;
                heldByThread.get()[0]++;
                return new Lease(want);
            }
            waiting.add(ticket);
            try {
                while (waiting.peek() != ticket || !(sameSet(want, current) || active == 0)) {
                    lock.wait();
                }
            } catch (InterruptedException e) {
                waiting.remove(ticket);
                lock.notifyAll();
                Thread.currentThread().interrupt();
                throw new CancellationException("interrupted while waiting for generations with other LoRAs to finish");
            }
            waiting.poll();
            try {
                if (!sameSet(want, current)) {
                    switchTo(want);
                }
                active++;
                heldByThread.get()[0]++;
            } finally {
                lock.notifyAll();
            }
        }
        return new Lease(want);
    }

    /** Restores the base weights and merges {@code want}; called with the lock held and no generation running. */
    private void switchTo(List<Applied> want) {
        long t0 = System.nanoTime();
        if (merge != null) {
            merge.close();
            merge = null;
        }
        current = List.of();
        long t1 = System.nanoTime();
        if (want.isEmpty()) {
            lastSwitch = new Switch(0, ms(t1 - t0), 0, 0, 0, 0);
            return;
        }
        List<LoraNetwork> networks = new ArrayList<>();
        try (NDManager factors = manager.newSubManager()) {
            List<LoraMerge.Item> items = new ArrayList<>();
            for (Applied a : want) {
                LoraNetwork n;
                try {
                    n = LoraNetwork.read(a.entry().path(), factors);
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot read LoRA '" + a.tag().name() + "' (" + a.entry().path() + "): "
                            + e.getMessage(), e);
                }
                networks.add(n);
                items.add(new LoraMerge.Item(LoraBinding.bind(n, family, shapes, unetLayout), a.tag().te(), a.tag().unet()));
            }
            long t2 = System.nanoTime();
            merge = LoraMerge.apply(items, layers, manager);
            // on a GPU the adds are queued: the switch's time is the time until they ran
            merge.synchronize();
            current = want;
            long t3 = System.nanoTime();
            lastSwitch = new Switch(want.size(), ms(t1 - t0), ms(t2 - t1), ms(t3 - t2), merge.patchedLayers(),
                    merge.patchBytes());
            LOG.info("{}: merged {} in {} ms (read {} ms, merge {} ms; {} layers, {} MB)", modelName,
                    want.stream().map(a -> a.tag().name()).toList(), Math.round(lastSwitch.totalMs()),
                    Math.round(lastSwitch.readMs()), Math.round(lastSwitch.mergeMs()), lastSwitch.layers(),
                    lastSwitch.patchBytes() / 1_000_000);
        } finally {
            networks.forEach(LoraNetwork::close);
        }
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }

    /**
     * A generation's hold on its LoRAs: while it is open, the text encoder and UNet compute with them. Closed by the
     * thread that took it; that thread may take more leases on the same set meanwhile (not on another set).
     */
    public final class Lease implements AutoCloseable {
        private final List<Applied> loras;
        private boolean released;

        private Lease(List<Applied> loras) {
            this.loras = loras;
        }

        /** How many LoRAs the prompt names. */
        public int size() {
            return loras.size();
        }

        /**
         * A1111's {@code Lora hashes} value: {@code "name: hash12, other: hash12"}, each name as the tag wrote it
         * without {@code :} and {@code ,} (A1111's {@code extra_networks_lora.py}: {@code remove_symbols}, the short
         * hash the first 12 hex digits), each name once; null when the prompt names no LoRA.
         */
        public String hashes() {
            Map<String, String> byName = new LinkedHashMap<>();
            for (Applied a : loras) {
                String h = checked(a.entry()).hash();
                if (!h.isEmpty()) {
                    byName.put(a.tag().name().replace(":", "").replace(",", ""), h.substring(0, Math.min(12, h.length())));
                }
            }
            if (byName.isEmpty()) {
                return null;
            }
            List<String> parts = new ArrayList<>();
            byName.forEach((k, v) -> parts.add(k + ": " + v));
            return String.join(", ", parts);
        }

        /** One warning per LoRA with keys that match no module of the model: their count and first names. */
        public List<String> warnings() {
            List<String> out = new ArrayList<>();
            for (Applied a : loras) {
                List<String> keys = checked(a.entry()).unmatchedKeys();
                if (!keys.isEmpty()) {
                    out.add("LoRA '" + a.tag().name() + "': " + keys.size() + " key(s) match no module of " + modelName
                            + " and were not applied: " + String.join(", ", keys.subList(0, Math.min(KEYS_LISTED, keys.size())))
                            + (keys.size() > KEYS_LISTED ? " and " + (keys.size() - KEYS_LISTED) + " more" : ""));
                }
            }
            return out;
        }

        /** Releases the LoRAs (they stay merged until a request with another set needs the model). */
        @Override
        public void close() {
            synchronized (lock) {
                if (!released) {
                    released = true;
                    active--;
                    heldByThread.get()[0]--;
                    lock.notifyAll();
                }
            }
        }
    }

    /**
     * Restores the base weights (waiting for running generations) and refuses further leases.
     */
    @Override
    public void close() {
        synchronized (lock) {
            closed = true;
            while (active > 0) {
                try {
                    lock.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            if (merge != null) {
                merge.close();
                merge = null;
            }
            current = List.of();
        }
    }

    /** The names of the LoRAs merged now, in order (empty: the base model). */
    public List<String> appliedNames() {
        synchronized (lock) {
            return current.stream().map(a -> a.entry().name()).toList();
        }
    }

}
