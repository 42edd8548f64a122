package dev.tenstep.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * A set of named tensors stored contiguously in one file, each loaded as a read-only view of a
 * memory mapping: a safetensors file ({@link SafeTensors}), a PyTorch zip checkpoint
 * ({@link TorchCheckpoint}), or a renamed/sliced view of either (single-file checkpoints).
 */
public interface TensorFile extends AutoCloseable {
    /** The file the bytes come from (named in error messages). */
    Path file();

    /** Tensor entries by name; offsets are absolute file positions, row-major contiguous data. */
    Map<String, SafeTensors.TensorInfo> tensors();

    /**
     * Loads one entry of {@link #tensors()} (or an entry derived from one: a row range, a reshape)
     * into {@code manager}, as {@link SafeTensors#load(NDManager, String)} describes: F32/I64/I32/F64
     * zero-copy, F16 and BF16 widened to F32.
     *
     * @throws IOException if the bytes cannot be mapped
     */
    NDArray load(NDManager manager, SafeTensors.TensorInfo info) throws IOException;

    @Override
    void close() throws IOException;
}
