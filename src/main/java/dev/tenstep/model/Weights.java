package dev.tenstep.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.io.TensorFile;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/**
 * Strict weight store over one component's tensors (nanoGPT {@code from_pretrained} style): a
 * safetensors file, or a component's view of a single-file checkpoint.
 *
 * <p>Modules ask for each weight by its full Hugging Face name and expected shape with
 * {@link #take}; a missing or wrongly shaped tensor is a {@link ModelLoadException} naming it, and
 * {@link #finish} fails on every tensor that no module took. Arrays are zero-copy views of the
 * file mapping (read-only), attached to the manager given at construction.
 */
public final class Weights implements AutoCloseable {
    private final TensorFile file;
    private final NDManager manager;
    private final UnaryOperator<String> alias;
    /** The type floating-point weights are created as (FLOAT32, or FLOAT16 for half-precision compute). */
    private final ai.djl.ndarray.types.DataType floatType;
    private boolean upcastAttention;
    private final Set<String> taken = new LinkedHashSet<>();
    private final Set<String> ignored = new LinkedHashSet<>();
    /** Random mode (file == null): seeded generator and the arrays handed out, by name. */
    private final java.util.SplittableRandom random;
    private final Map<String, NDArray> created = new java.util.LinkedHashMap<>();
    /** module name -> name in the file, built once (a per-take scan over ~700 names was quadratic). */
    private Map<String, String> byModuleName;

    /**
     * @param file    an opened safetensors file, or a single-file checkpoint's view of one component
     * @param manager the long-lived manager the weights belong to
     * @param alias   maps a name found in the file to the name modules ask for (e.g. legacy VAE
     *                attention names); identity when the file already uses the current names
     */
    public Weights(TensorFile file, NDManager manager, UnaryOperator<String> alias) {
        this(file, manager, alias, ai.djl.ndarray.types.DataType.FLOAT32);
    }

    /**
     * As {@link #Weights(TensorFile, NDManager, UnaryOperator)}, with floating-point weights created
     * as {@code floatType} on the manager's device (see {@link TensorFile#load(NDManager,
     * SafeTensors.TensorInfo, ai.djl.ndarray.types.DataType)}: an fp16 safetensors file is not
     * widened on the host for fp16 compute).
     */
    public Weights(TensorFile file, NDManager manager, UnaryOperator<String> alias, ai.djl.ndarray.types.DataType floatType) {
        this.file = file;
        this.manager = manager;
        this.alias = alias;
        this.random = null;
        this.floatType = floatType;
    }

    private Weights(NDManager manager, long seed, boolean shapesOnly) {
        this(manager, seed, shapesOnly, ai.djl.ndarray.types.DataType.FLOAT32);
    }

    private Weights(NDManager manager, long seed, boolean shapesOnly, ai.djl.ndarray.types.DataType floatType) {
        this.file = null;
        this.manager = manager;
        this.alias = UnaryOperator.identity();
        this.random = shapesOnly ? null : new java.util.SplittableRandom(seed);
        this.floatType = floatType;
    }

    /** As {@link #random(NDManager, long)}, the same values narrowed to {@code floatType} on the manager's device. */
    public static Weights random(NDManager manager, long seed, ai.djl.ndarray.types.DataType floatType) {
        return new Weights(manager, seed, false, floatType);
    }

    /** The type floating-point weights are created as. */
    public ai.djl.ndarray.types.DataType floatType() {
        return floatType;
    }

    /**
     * Asks the attention modules built from this store to compute their scores and softmax in fp32
     * under half precision (diffusers' {@code upcast_attention}, from unet/config.json).
     *
     * @return this store
     */
    public Weights upcastAttention(boolean on) {
        this.upcastAttention = on;
        return this;
    }

    /** See {@link #upcastAttention(boolean)}. */
    public boolean upcastAttention() {
        return upcastAttention;
    }

    /** Shapes-only mode: name -> shape of every weight asked for. */
    private final Map<String, long[]> shapes = new java.util.LinkedHashMap<>();

    /**
     * A store that only records the name and shape of every weight a module asks for, handing out
     * placeholders that hold no weight data (one zero broadcast to the shape, a view): lists the
     * tensors a configuration needs without allocating them (see {@link #shapes()}).
     */
    public static Weights shapesOnly(NDManager manager) {
        return new Weights(manager, 0, true);
    }

    /** In shapes-only mode, the name and shape of every weight asked for, in order. */
    public Map<String, long[]> shapes() {
        return java.util.Collections.unmodifiableMap(shapes);
    }

    /**
     * A store that creates seeded random weights of whatever shape a module asks for, instead of
     * reading a file: builds full-size networks from config.json alone (benchmarks, the bundled demo
     * pipeline). Matrices and kernels are uniform in +-1/sqrt(fan_in) (PyTorch's default init),
     * 1-D {@code weight}s of norms are 1, biases 0, embeddings N(0, 1) scaled by 0.02... 1.
     */
    public static Weights random(NDManager manager, long seed) {
        return new Weights(manager, seed, false);
    }

    /** The arrays created in random mode, in creation order (to write them as a safetensors file). */
    public Map<String, NDArray> created() {
        return java.util.Collections.unmodifiableMap(created);
    }

    private NDArray randomArray(String name, long[] shape) {
        long count = 1;
        for (long d : shape) {
            count *= d;
        }
        float[] data = new float[Math.toIntExact(count)];
        if (shape.length >= 2) {
            long fanIn = count / shape[0];
            boolean embedding = name.contains("embedding") && !name.contains("time_embedding");
            float bound = embedding ? 0.5f : (float) (1.0 / Math.sqrt(fanIn));
            for (int i = 0; i < data.length; i++) {
                data[i] = embedding ? (float) (random.nextGaussian() * bound) : (float) ((random.nextDouble() * 2 - 1) * bound);
            }
        } else if (name.endsWith(".weight")) {
            java.util.Arrays.fill(data, 1f);
        } else if (name.endsWith(".bias") && shape.length == 1) {
            for (int i = 0; i < data.length; i++) {
                data[i] = (float) (random.nextGaussian() * 0.02);
            }
        }
        NDArray a = manager.create(data, new Shape(shape));
        if (floatType != ai.djl.ndarray.types.DataType.FLOAT32) {
            NDArray narrow = a.toType(floatType, false);
            a.close();
            a = narrow;
        }
        created.put(name, a);
        return a;
    }

    public Weights(TensorFile file, NDManager manager) {
        this(file, manager, UnaryOperator.identity());
    }

    /** Opens the weight file of a diffusers component folder (see {@link #findWeightFile}). */
    public static Weights open(Path componentDir, NDManager manager, UnaryOperator<String> alias) {
        return open(componentDir, manager, alias, ai.djl.ndarray.types.DataType.FLOAT32);
    }

    /** As {@link #open(Path, NDManager, UnaryOperator)}, floating-point weights created as {@code floatType}. */
    public static Weights open(Path componentDir, NDManager manager, UnaryOperator<String> alias,
                               ai.djl.ndarray.types.DataType floatType) {
        Path f = findWeightFile(componentDir);
        try {
            return new Weights(SafeTensors.open(f), manager, alias, floatType);
        } catch (IOException e) {
            throw new ModelLoadException(e.getMessage(), e);
        }
    }

    /**
     * The weight file of a component folder, in diffusers' order of preference:
     * {@code diffusion_pytorch_model.safetensors}, {@code model.safetensors}, then their
     * {@code .fp16.safetensors} variants.
     *
     * @throws ModelLoadException if none exists; the message says when only pickled
     *                            {@code .bin}/{@code .ckpt}/{@code .pt} weights are present
     */
    public static Path findWeightFile(Path componentDir) {
        if (!Files.isDirectory(componentDir)) {
            throw new ModelLoadException("missing folder " + componentDir);
        }
        for (String name : List.of("diffusion_pytorch_model.safetensors", "model.safetensors",
                "diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors")) {
            Path p = componentDir.resolve(name);
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        List<String> pickled = new ArrayList<>();
        try (Stream<Path> s = Files.list(componentDir)) {
            s.map(p -> p.getFileName().toString())
                    .filter(n -> n.endsWith(".bin") || n.endsWith(".ckpt") || n.endsWith(".pt") || n.endsWith(".pth"))
                    .sorted().forEach(pickled::add);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (!pickled.isEmpty()) {
            throw new ModelLoadException(componentDir + " holds only pickled PyTorch weights " + pickled
                    + "; this application reads .safetensors only (pickle files can run arbitrary code). "
                    + "Download the .safetensors variant of the model or convert it with the safetensors library.");
        }
        throw new ModelLoadException("no weight file in " + componentDir
                + " (expected diffusion_pytorch_model.safetensors or model.safetensors)");
    }

    /** The file name a module's name is stored under, undoing {@link #alias}. */
    private String fileNameOf(String name) {
        if (byModuleName == null) {
            Map<String, String> m = new java.util.HashMap<>();
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
     * Takes the tensor {@code name} with the expected shape.
     *
     * @throws ModelLoadException if it is missing or has another shape
     */
    public NDArray take(String name, long... shape) {
        if (file == null && random == null) {
            shapes.put(name, shape.clone());
            return manager.zeros(new Shape(1)).broadcast(new Shape(shape));
        }
        if (file == null) {
            NDArray a = randomArray(name, shape);
            a.setName(name);
            return a;
        }
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

    /**
     * Marks a tensor as known but unused (e.g. CLIP's {@code position_ids} buffer). {@code name}
     * may be the name in the file or the (aliased) name modules use.
     */
    public void ignore(String name) {
        ignored.add(name);
        if (file == null) {
            return;
        }
        String inFile = fileNameOf(name);
        if (inFile != null) {
            ignored.add(inFile);
        }
    }

    /** @throws ModelLoadException listing every tensor in the file that no module took */
    public void finish() {
        if (file == null) {
            return;
        }
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

    public Path path() {
        return file == null ? null : file.file();
    }

    public NDManager manager() {
        return manager;
    }

    /** Shapes of every tensor in the file (for tools that build a model from weights). */
    public Map<String, SafeTensors.TensorInfo> tensors() {
        return file == null ? Map.of() : file.tensors();
    }

    /** Closes the file channel; mapped arrays stay valid until their manager closes. */
    @Override
    public void close() {
        if (file == null) {
            return;
        }
        try {
            file.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Shape shape(long... s) {
        return new Shape(s);
    }
}
