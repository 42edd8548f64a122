package dev.tenstep.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.io.TensorFile;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.UnaryOperator;

/**
 * The strict weight store over one component's tensors: a safetensors file, or a component's view of a
 * single-file checkpoint. A missing or wrongly shaped tensor is a {@link ModelLoadException} naming it, and
 * {@link #finish} fails on every tensor that no module took. Arrays are zero-copy views of the file mapping
 * (read-only) where the dtype allows, attached to the manager given at construction. Not thread-safe (one
 * loading thread). Made by {@link Weights#of} and {@link Weights#open}.
 */
public final class FileWeights implements Weights {
    private final TensorFile file;
    private final NDManager manager;
    private final UnaryOperator<String> alias;
    private final DataType floatType;
    private final Set<String> taken = new LinkedHashSet<>();
    private final Set<String> ignored = new LinkedHashSet<>();
    private final Map<String, dev.tenstep.model.nn.Patchable> layers = new java.util.LinkedHashMap<>();
    /** module name -> name in the file, built once (a per-take scan over ~700 names was quadratic). */
    private Map<String, String> byModuleName;

    FileWeights(TensorFile file, NDManager manager, UnaryOperator<String> alias, DataType floatType) {
        this.file = Objects.requireNonNull(file, "file");
        this.manager = Objects.requireNonNull(manager, "manager");
        this.alias = Objects.requireNonNull(alias, "alias");
        this.floatType = Objects.requireNonNull(floatType, "floatType");
    }

    /** The file name a module's name is stored under, undoing {@code alias}. */
    private String fileNameOf(String name) {
        if (byModuleName == null) {
            Map<String, String> m = new HashMap<>();
            for (String n : file.tensors().keySet()) {
                String a = alias.apply(n);
                // a name that is already current wins over a legacy name mapping onto it
                if (a.equals(n) || !m.containsKey(a)) {
                    m.put(a, n);
                }
            }
            byModuleName = m;
        }
        return byModuleName.get(name);
    }

    /**
     * {@inheritDoc}
     *
     * @throws ModelLoadException if it is missing or has another shape
     */
    @Override
    public NDArray take(String name, long... shape) {
        String inFile = fileNameOf(name);
        if (inFile == null) {
            throw new ModelLoadException(file.file() + ": missing weight '" + name + "' (expected shape "
                    + Arrays.toString(shape) + ")");
        }
        try {
            SafeTensors.TensorInfo info = file.tensors().get(inFile);
            if (!Arrays.equals(info.shape(), shape)) {
                throw new ModelLoadException(file.file() + ": weight '" + name + "'"
                        + (inFile.equals(name) ? "" : " (stored as '" + inFile + "')") + " has shape "
                        + Arrays.toString(info.shape()) + ", expected " + Arrays.toString(shape));
            }
            taken.add(inFile);
            NDArray a = file.load(manager, info, floatType);
            a.setName(name);
            return a;
        } catch (IOException e) {
            throw new ModelLoadException(e.getMessage(), e);
        }
    }

    /** {@inheritDoc} {@code name} may be the name in the file or the (aliased) name modules use. */
    @Override
    public void ignore(String name) {
        ignored.add(name);
        String inFile = fileNameOf(name);
        if (inFile != null) {
            ignored.add(inFile);
        }
    }

    /** @throws ModelLoadException listing every tensor in the file that no module took */
    @Override
    public void finish() {
        Set<String> unused = new TreeSet<>(file.tensors().keySet());
        unused.removeAll(taken);
        unused.removeAll(ignored);
        if (!unused.isEmpty()) {
            throw new ModelLoadException(file.file() + ": " + unused.size() + " unexpected weight(s) not used by the "
                    + "configured architecture (config.json does not match the weights?): " + preview(unused));
        }
    }

    private static String preview(Set<String> names) {
        List<String> l = new ArrayList<>(names);
        return l.size() <= 10 ? l.toString() : l.subList(0, 10) + " and " + (l.size() - 10) + " more";
    }

    @Override
    public void register(String name, dev.tenstep.model.nn.Patchable layer) {
        layers.put(name, layer);
    }

    @Override
    public Map<String, dev.tenstep.model.nn.Patchable> layers() {
        return Collections.unmodifiableMap(layers);
    }

    @Override
    public Path path() {
        return file.file();
    }

    @Override
    public NDManager manager() {
        return manager;
    }

    @Override
    public DataType floatType() {
        return floatType;
    }

    /** Shapes of every tensor in the file (for tools that build a model from weights). */
    @Override
    public Map<String, SafeTensors.TensorInfo> tensors() {
        return file.tensors();
    }

    /** Closes the file channel; mapped arrays stay valid until their manager closes. */
    @Override
    public void close() {
        try {
            file.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
