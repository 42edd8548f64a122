package dev.tenstep.model;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link RandomWeights} fills large tensors a chunk at a time in libtorch's memory: the values are exactly the one
 * whole-array draw of the class comment's rules, element order, one generator across tensors.
 */
class RandomWeightsTest {
    @Test
    void chunkedTensorsHoldTheWholeArrayDraw() {
        // 1.5 chunks, then an embedding of 2.2 chunks (Gaussian), then a bias: one generator through all three
        long[] matrix = {1536, RandomWeights.CHUNK / 1024};
        long[] embedding = {2, RandomWeights.CHUNK + RandomWeights.CHUNK / 10};
        SplittableRandom r = new SplittableRandom(7);
        float[] m = new float[(int) (matrix[0] * matrix[1])];
        float bound = (float) (1.0 / Math.sqrt(matrix[1]));
        for (int i = 0; i < m.length; i++) {
            m[i] = (float) ((r.nextDouble() * 2 - 1) * bound);
        }
        float[] e = new float[(int) (embedding[0] * embedding[1])];
        for (int i = 0; i < e.length; i++) {
            e[i] = (float) (r.nextGaussian() * 0.5f);
        }
        float[] b = new float[5];
        for (int i = 0; i < b.length; i++) {
            b[i] = (float) (r.nextGaussian() * 0.02);
        }
        try (NDManager manager = NDManager.newBaseManager()) {
            RandomWeights w = Weights.random(manager, 7);
            assertArrayEquals(m, w.take("proj.weight", matrix).toFloatArray());
            assertArrayEquals(e, w.take("token_embedding.weight", embedding).toFloatArray());
            assertArrayEquals(b, w.take("proj.bias", 5).toFloatArray());
            assertArrayEquals(new float[] {1, 1, 1}, w.take("norm.weight", 3).toFloatArray());
            assertEquals(1536, w.created().get("proj.weight").getShape().get(0));

            RandomWeights half = Weights.random(manager, 7, DataType.FLOAT16);
            assertEquals(DataType.FLOAT16, half.take("proj.weight", matrix).getDataType());
        }
    }
}
