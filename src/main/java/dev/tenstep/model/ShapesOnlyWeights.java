package dev.tenstep.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.io.SafeTensors;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A store that only records the name and shape of every weight a module asks for, handing out placeholders that
 * hold no weight data (one fp32 zero broadcast to the shape, a view): lists the tensors a configuration needs
 * without allocating them ({@link #shapes()}). Not thread-safe. Made by {@link Weights#shapesOnly}.
 */
public final class ShapesOnlyWeights implements Weights {
    private final NDManager manager;
    private final Map<String, long[]> shapes = new LinkedHashMap<>();

    ShapesOnlyWeights(NDManager manager) {
        this.manager = Objects.requireNonNull(manager, "manager");
    }

    /** Records the name and shape; returns a zero broadcast to the shape (no data). */
    @Override
    public NDArray take(String name, long... shape) {
        shapes.put(name, shape.clone());
        return manager.zeros(new Shape(1)).broadcast(new Shape(shape));
    }

    /** The name and shape of every weight asked for, in order. */
    public Map<String, long[]> shapes() {
        return Collections.unmodifiableMap(shapes);
    }



    @Override
    public NDManager manager() {
        return manager;
    }

    /** FLOAT32 (the placeholders' type). */
    @Override
    public DataType floatType() {
        return DataType.FLOAT32;
    }



}
