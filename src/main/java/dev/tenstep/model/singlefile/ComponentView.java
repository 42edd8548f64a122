package dev.tenstep.model.singlefile;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.io.TensorFile;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Map;
import java.util.Set;

/**
 * One network's tensors of a single-file checkpoint under the diffusers names that its loader asks
 * for. Each entry is the checkpoint's own byte range, possibly narrowed (rows of a stacked q/k/v
 * {@code in_proj}) or reshaped (a 1x1 convolution read as a linear weight): both are views of the
 * same mapping, so nothing is copied. An entry made by {@link #transposed} (OpenCLIP's
 * {@code text_projection}) is loaded with its stored shape and handed out transposed, a strided
 * view of the same bytes. Closing a view does nothing; the checkpoint owns the file.
 */
final class ComponentView implements TensorFile {
    private final TensorFile source;
    private final Map<String, SafeTensors.TensorInfo> tensors;
    private final Set<String> transposed;

    ComponentView(TensorFile source, Map<String, SafeTensors.TensorInfo> tensors) {
        this(source, tensors, Set.of());
    }

    /** @param transposed the names of the entries made by {@link #transposed} */
    ComponentView(TensorFile source, Map<String, SafeTensors.TensorInfo> tensors, Set<String> transposed) {
        this.source = source;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.transposed = Set.copyOf(transposed);
    }

    @Override
    public Path file() {
        return source.file();
    }

    @Override
    public Map<String, SafeTensors.TensorInfo> tensors() {
        return tensors;
    }

    @Override
    public NDArray load(NDManager manager, SafeTensors.TensorInfo info) throws IOException {
        return transposed.contains(info.name()) ? source.load(manager, stored(info)).transpose(1, 0) : source.load(manager, info);
    }

    @Override
    public NDArray load(NDManager manager, SafeTensors.TensorInfo info, ai.djl.ndarray.types.DataType floatType)
            throws IOException {
        return transposed.contains(info.name()) ? source.load(manager, stored(info), floatType).transpose(1, 0)
                : source.load(manager, info, floatType);
    }

    /** The stored [rows, cols] entry of a transposed one. */
    private static SafeTensors.TensorInfo stored(SafeTensors.TensorInfo info) {
        long[] s = info.shape();
        return new SafeTensors.TensorInfo(info.name(), info.dtype(), new long[] {s[1], s[0]}, info.begin(), info.end());
    }

    @Override
    public void close() {
    }

    /** {@code info} renamed, with the same bytes. */
    static SafeTensors.TensorInfo renamed(SafeTensors.TensorInfo info, String name) {
        return new SafeTensors.TensorInfo(name, info.dtype(), info.shape(), info.begin(), info.end());
    }

    /** {@code info} renamed and read with another shape of the same element count. */
    static SafeTensors.TensorInfo reshaped(SafeTensors.TensorInfo info, String name, long... shape) {
        return new SafeTensors.TensorInfo(name, info.dtype(), shape, info.begin(), info.end());
    }

    /**
     * A 2-D {@code info} renamed and read as its transpose: shape [cols, rows]; the view that holds
     * it must list its name as transposed (see the class comment).
     *
     * @throws IllegalArgumentException if {@code info} is not 2-D
     */
    static SafeTensors.TensorInfo transposed(SafeTensors.TensorInfo info, String name) {
        if (info.shape().length != 2) {
            throw new IllegalArgumentException("'" + info.name() + "' has shape " + java.util.Arrays.toString(info.shape())
                    + ": only a matrix can be transposed");
        }
        return new SafeTensors.TensorInfo(name, info.dtype(), new long[] {info.shape()[1], info.shape()[0]}, info.begin(),
                info.end());
    }

    /**
     * Rows {@code [part * n / 3, (part + 1) * n / 3)} of a tensor of n rows (row-major, so the rows
     * are one contiguous byte range), renamed.
     */
    static SafeTensors.TensorInfo third(SafeTensors.TensorInfo info, String name, int part) {
        long[] s = info.shape().clone();
        long rows = s[0] / 3;
        long rowBytes = info.byteLength() / s[0];
        s[0] = rows;
        long begin = info.begin() + part * rows * rowBytes;
        return new SafeTensors.TensorInfo(name, info.dtype(), s, begin, begin + rows * rowBytes);
    }
}
