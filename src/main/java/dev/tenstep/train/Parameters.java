package dev.tenstep.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.tenstep.io.DType;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.io.TensorFile;
import dev.tenstep.model.Weights;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The trainable weights of one component (text encoder, UNet or VAE): writable float32 arrays that
 * record gradients ({@code requires_grad}), by their Hugging Face names.
 *
 * <p>It is a weight source next to the file and random ones: as a {@link TensorFile} it hands the
 * modules its own arrays through {@link #weights()}, so the project's model classes, built unchanged
 * from it, compute with the very arrays the optimizer updates. The initial values are those of
 * {@link Weights#random} with the given seed (the modules ask for every name and shape once).
 */
public final class Parameters implements TensorFile {
    private final NDManager manager;
    private final Map<String, NDArray> arrays;
    private final Map<String, SafeTensors.TensorInfo> infos = new LinkedHashMap<>();

    private Parameters(NDManager manager, Map<String, NDArray> arrays) {
        this.manager = manager;
        this.arrays = arrays;
        for (Map.Entry<String, NDArray> e : arrays.entrySet()) {
            NDArray a = e.getValue();
            if (a.getDataType() != DataType.FLOAT32) {
                throw new IllegalArgumentException("parameter " + e.getKey() + " is " + a.getDataType() + ", expected float32");
            }
            a.setRequiresGradient(true);
            infos.put(e.getKey(), new SafeTensors.TensorInfo(e.getKey(), DType.F32, a.getShape().getShape(), 0, 0));
        }
    }

    /**
     * Seeded initial weights of a network: {@code build} constructs the network from the store it is
     * given (a {@link Weights#random} store), and every weight it asked for becomes a parameter.
     *
     * @param manager long-lived manager the parameters belong to
     * @param seed    seed of {@link Weights#random}
     * @param build   builds the network (e.g. {@code w -> new UNet2DConditionModel(config, w)})
     */
    public static Parameters initial(NDManager manager, long seed, Consumer<Weights> build) {
        Map<String, NDArray> arrays = new LinkedHashMap<>();
        try (NDManager scratch = manager.newSubManager()) {
            dev.tenstep.model.RandomWeights random = Weights.random(scratch, seed);
            build.accept(random);
            for (Map.Entry<String, NDArray> e : random.created().entrySet()) {
                // a copy owned by manager: the random store's arrays close with the scratch manager
                arrays.put(e.getKey(), owned(e.getValue(), manager));
            }
        }
        return new Parameters(manager, arrays);
    }

    /**
     * Parameters read from a safetensors file (a checkpoint), copied into writable float32 arrays.
     *
     * @throws IOException if the file cannot be read
     */
    public static Parameters read(NDManager manager, Path file) throws IOException {
        Map<String, NDArray> arrays = new LinkedHashMap<>();
        try (NDManager scratch = manager.newSubManager()) {
            for (Map.Entry<String, NDArray> e : SafeTensors.read(file, scratch).entrySet()) {
                arrays.put(e.getKey(), owned(e.getValue().toType(DataType.FLOAT32, false), manager));
            }
        }
        return new Parameters(manager, arrays);
    }

    /**
     * A copy of {@code a} in memory that libtorch allocated and owns, attached to {@code manager}.
     * Why: DJL creates a CPU array from Java data (and from a file mapping) as a view of a Java
     * buffer ({@code from_blob}) that lives only as long as the Java array object; views and
     * autograd's saved tensors outlive it. A clone made by libtorch has no such tie.
     */
    static NDArray owned(NDArray a, NDManager manager) {
        NDArray copy = a.duplicate();
        copy.attach(manager);
        return copy;
    }

    /** A store over these parameters for building the network: its modules hold exactly these arrays. */
    public Weights weights() {
        return Weights.of(this, manager);
    }

    /** The parameters by name, in the order the network asked for them. */
    public Map<String, NDArray> arrays() {
        return Collections.unmodifiableMap(arrays);
    }

    /** Total number of scalar weights. */
    public long count() {
        long n = 0;
        for (NDArray a : arrays.values()) {
            n += a.size();
        }
        return n;
    }

    /**
     * Writes the parameters as a safetensors file, in {@code type} (FLOAT32, or FLOAT16 for a
     * shipped pipeline: half the size; the loader widens it again).
     */
    public void write(Path file, DataType type, Map<String, String> metadata) throws IOException {
        try (NDManager scratch = manager.newSubManager()) {
            Map<String, NDArray> out = new LinkedHashMap<>();
            for (Map.Entry<String, NDArray> e : arrays.entrySet()) {
                // a detached copy in scratch (never the parameter itself, which must keep its gradient flag)
                NDArray a = scratch.create(e.getValue().toFloatArray(), e.getValue().getShape());
                out.put(e.getKey(), type == DataType.FLOAT32 ? a : a.toType(type, false));
            }
            SafeTensors.write(file, out, metadata);
        }
    }

    @Override
    public Path file() {
        return Path.of("<trainable parameters>");
    }

    @Override
    public Map<String, SafeTensors.TensorInfo> tensors() {
        return Collections.unmodifiableMap(infos);
    }

    /** The parameter itself (no copy), so that gradients reach it. */
    @Override
    public NDArray load(NDManager m, SafeTensors.TensorInfo info) {
        NDArray a = arrays.get(info.name());
        if (a == null) {
            throw new IllegalArgumentException("no parameter " + info.name());
        }
        return a;
    }

    /** The parameters stay valid: they belong to the manager given at construction. */
    @Override
    public void close() {
    }
}
