package dev.tenstep.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
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

    /** A new random array of the shape, created as {@link #floatType()}; never fails. */
    @Override
    public NDArray take(String name, long... shape) {
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
            Arrays.fill(data, 1f);
        } else if (name.endsWith(".bias") && shape.length == 1) {
            for (int i = 0; i < data.length; i++) {
                data[i] = (float) (random.nextGaussian() * 0.02);
            }
        }
        NDArray a = manager.create(data, new Shape(shape));
        if (floatType != DataType.FLOAT32) {
            NDArray narrow = a.toType(floatType, false);
            a.close();
            a = narrow;
        }
        created.put(name, a);
        a.setName(name);
        return a;
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
