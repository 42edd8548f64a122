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

    /**
     * As {@link #load(NDManager, SafeTensors.TensorInfo)}, floating-point tensors created as
     * {@code floatType} on the manager's device: FLOAT32 is that method; FLOAT16 and BFLOAT16 convert on
     * the manager's device (integer tensors are loaded as they are). {@link SafeTensors} overrides it to
     * hand an F16 entry over as it is stored for FLOAT16, and F16/BF16 entries for BFLOAT16 (never widened
     * on the host).
     *
     * @param floatType FLOAT32, FLOAT16 or BFLOAT16 (BFLOAT16 needs the DJL JNI with the bf16 patch:
     *                  docs/gpu.md; DJL 0.36.0's own aborts the JVM)
     * @throws IllegalArgumentException for another floatType
     */
    default NDArray load(NDManager manager, SafeTensors.TensorInfo info, ai.djl.ndarray.types.DataType floatType)
            throws IOException {
        if (floatType == ai.djl.ndarray.types.DataType.FLOAT32) {
            return load(manager, info);
        }
        if (floatType != ai.djl.ndarray.types.DataType.FLOAT16 && floatType != ai.djl.ndarray.types.DataType.BFLOAT16) {
            throw new IllegalArgumentException("cannot load tensors as " + floatType + " (FLOAT32, FLOAT16 or BFLOAT16)");
        }
        DType d = info.dtype();
        if (d != DType.F32 && d != DType.F16 && d != DType.BF16 && d != DType.F64) {
            return load(manager, info);
        }
        try (NDManager tmp = manager.newSubManager()) {
            NDArray wide = load(tmp, info);
            NDArray half = wide.toType(floatType, false);
            half.attach(manager);
            return half;
        }
    }

    @Override
    void close() throws IOException;
}
