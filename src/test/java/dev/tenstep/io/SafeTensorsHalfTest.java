package dev.tenstep.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.model.Weights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Weights loaded in the compute dtype: an fp16 file stays fp16 (its very bytes) for fp16 compute. */
class SafeTensorsHalfTest {
    @TempDir
    Path tmp;

    private static byte[] bytes(NDArray a) {
        ByteBuffer b = a.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }

    @Test
    void fp16FileIsLoadedAsItsOwnBytesForFp16AndWidenedForFp32() throws Exception {
        float[] values = {1f, -2.5f, 0.333251953125f, 65504f, 6.1035156e-5f, 0f};
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray half = m.create(values, new Shape(2, 3)).toType(DataType.FLOAT16, false);
            byte[] stored = bytes(half);
            Path f = tmp.resolve("model.safetensors");
            Map<String, NDArray> t = new LinkedHashMap<>();
            t.put("w", half);
            t.put("ids", m.create(new long[] {7, 8}));
            SafeTensors.write(f, t, Map.of());
            try (SafeTensors st = SafeTensors.open(f)) {
                NDArray asHalf = st.load(m, "w", DataType.FLOAT16);
                assertEquals(DataType.FLOAT16, asHalf.getDataType());
                assertArrayEquals(stored, bytes(asHalf));
                NDArray asFloat = st.load(m, "w", DataType.FLOAT32);
                assertEquals(DataType.FLOAT32, asFloat.getDataType());
                assertArrayEquals(values, asFloat.toFloatArray());
                assertEquals(DataType.INT64, st.load(m, "ids", DataType.FLOAT16).getDataType());
                // no other float type (BFLOAT16 is loadable, but only with the patched JNI: Bf16PipelineTest)
                assertThrows(IllegalArgumentException.class, () -> st.load(m, "w", DataType.FLOAT64));
            }
        }
    }

    @Test
    void fp32FileIsNarrowedForFp16ThroughWeights() throws Exception {
        float[] values = {1f, -2.5f, 0.1f, 3f};
        try (NDManager m = NDManager.newBaseManager()) {
            Path dir = Files.createDirectories(tmp.resolve("unet"));
            SafeTensors.write(dir.resolve("diffusion_pytorch_model.safetensors"),
                    Map.of("conv.weight", m.create(values, new Shape(4))), Map.of());
            try (Weights w = Weights.open(dir, m, UnaryOperator.identity(), DataType.FLOAT16)) {
                NDArray a = w.take("conv.weight", 4);
                assertEquals(DataType.FLOAT16, a.getDataType());
                // 0.1 is not representable in fp16: the nearest half is 0.0999755859375
                assertArrayEquals(new float[] {1f, -2.5f, 0.0999755859375f, 3f}, a.toType(DataType.FLOAT32, false).toFloatArray());
                w.finish();
            }
            try (Weights w = Weights.random(m, 3, DataType.FLOAT16)) {
                assertEquals(DataType.FLOAT16, w.take("x.weight", 2, 2).getDataType());
            }
        }
    }
}
