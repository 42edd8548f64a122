package dev.tenstep.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.io.SafeTensors;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Seeded random weights of whatever shape a module asks for, instead of reading a file: builds full-size networks
 * from config.json alone (benchmarks, the bundled demo pipeline). Matrices and kernels are uniform in
 * +-1/sqrt(fan_in) (PyTorch's default init), 1-D {@code weight}s of norms are 1, biases N(0, 0.02), embeddings
 * N(0, 0.5). The same seed and the same sequence of requests give the same values. Not thread-safe. Made by
 * {@link Weights#random}.
 */
public final class RandomWeights implements Weights {
    private final NDManager manager;
    private final DataType floatType;
    private final SplittableRandom random;
    private final Map<String, NDArray> created = new LinkedHashMap<>();
    private final Map<String, dev.tenstep.model.nn.Patchable> layers = new LinkedHashMap<>();

    RandomWeights(NDManager manager, long seed, DataType floatType) {
        this.manager = Objects.requireNonNull(manager, "manager");
        this.floatType = Objects.requireNonNull(floatType, "floatType");
        this.random = new SplittableRandom(seed);
    }

    /** Values moved into a tensor at a time (4 MiB of float32): see {@link #take}. */
    static final int CHUNK = 1 << 20;

    /**
     * A new random array of the shape, created as {@link #floatType()}; never fails.
     *
     * <p>The array is allocated by libtorch and filled a chunk at a time. DJL's {@code create(float[])} copies the
     * values into a Java direct buffer which the tensor then keeps as its storage, and direct buffers are capped by
     * {@code -XX:MaxDirectMemorySize} (by default the maximum heap, a quarter of the RAM): SDXL's 3.5 G parameters
     * (13 GiB in fp32) do not fit under it, and a Java copy of every weight would need twice the memory. Here the
     * heap and the direct buffers hold one chunk at a time; the values are the same as one whole-array draw.
     */
    @Override
    public NDArray take(String name, long... shape) {
        long count = 1;
        for (long d : shape) {
            count *= d;
        }
        NDArray a = manager.create(new Shape(shape), DataType.FLOAT32);
        try (NDArray flat = a.reshape(count)) {
            for (long start = 0; start < count; start += CHUNK) {
                float[] data = new float[(int) Math.min(CHUNK, count - start)];
                fill(name, shape, count, data);
                try (NDArray chunk = manager.create(data)) {
                    flat.set(new NDIndex(start + ":" + (start + data.length)), chunk);
                }
            }
        }
        if (floatType != DataType.FLOAT32) {
            NDArray narrow = a.toType(floatType, false);
            a.close();
            a = narrow;
        }
        created.put(name, a);
        a.setName(name);
        return a;
    }

    /**
     * The next {@code data.length} values of a tensor {@code name} of {@code count} values in {@code shape}, drawn in
     * element order (the initialisation rules of the class comment).
     */
    private void fill(String name, long[] shape, long count, float[] data) {
        if (shape.length >= 2) {
            long fanIn = count / shape[0];
            boolean embedding = name.contains("embedding") && !name.contains("time_embedding");
            float bound = embedding ? 0.5f : (float) (1.0 / Math.sqrt(fanIn));
            for (int i = 0; i < data.length; i++) {
                data[i] = embedding ? (float) (random.nextGaussian() * bound) : (float) ((random.nextDouble() * 2 - 1) * bound);
            }
        } else if (name.endsWith(".weight")) {
            Arrays.fill(data, 1f);
        } else if (name.endsWith(".bias") && shape.length == 1) {
            for (int i = 0; i < data.length; i++) {
                data[i] = (float) (random.nextGaussian() * 0.02);
            }
        }
    }

    /** The arrays created, by name, in creation order (to write them as a safetensors file). */
    public Map<String, NDArray> created() {
        return Collections.unmodifiableMap(created);
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
    public NDManager manager() {
        return manager;
    }

    @Override
    public DataType floatType() {
        return floatType;
    }



}
