package dev.tenstep.io;

import ai.djl.ndarray.types.DataType;

/**
 * The safetensors dtypes this project reads. F16 is converted to F32 on load (never compute in fp16
 * on CPU); BF16 is widened to F32 in Java for fp32 loads (DJL 0.36.0's own JNI aborts the JVM on BF16 arrays;
 * bf16 compute loads BF16 entries as they are: {@link SafeTensors#load(ai.djl.ndarray.NDManager, SafeTensors.TensorInfo, DataType)}).
 */
public enum DType {
    F32(4, DataType.FLOAT32),
    F16(2, DataType.FLOAT32),
    BF16(2, DataType.FLOAT32),
    I64(8, DataType.INT64),
    I32(4, DataType.INT32),
    F64(8, DataType.FLOAT64);

    /** Bytes per element in the file. */
    public final int size;
    /** The DJL type an array of this dtype is loaded as. */
    public final DataType loadedAs;

    DType(int size, DataType loadedAs) {
        this.size = size;
        this.loadedAs = loadedAs;
    }

    /** The safetensors dtype of a DJL array type, for writing. */
    public static DType of(DataType type) {
        switch (type) {
            case FLOAT32: return F32;
            case FLOAT16: return F16;
            case INT64: return I64;
            case INT32: return I32;
            case FLOAT64: return F64;
            default: throw new IllegalArgumentException("cannot write DJL type " + type + " to safetensors");
        }
    }
}
