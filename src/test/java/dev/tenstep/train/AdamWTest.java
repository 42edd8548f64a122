package dev.tenstep.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * AdamW's update against its closed form (Loshchilov and Hutter 2019, algorithm 2) on a quadratic loss, and
 * the optimizer keeping no arrays of its own between steps (a run that kept them grew ~80 MB a step).
 */
class AdamWTest {
    private static int resourceCount(NDManager manager) throws ReflectiveOperationException {
        // DJL exposes no count of a manager's arrays; the field is what debugDump prints
        java.lang.reflect.Field f = BaseNDManager.class.getDeclaredField("resources");
        f.setAccessible(true);
        return ((Map<?, ?>) f.get(manager)).size();
    }

    private static void lossStep(NDArray w) {
        try (NDManager step = w.getManager().newSubManager();
             GradientCollector gc = Engine.getInstance().newGradientCollector()) {
            // loss = sum(w^2): gradient 2 w; its arrays in a manager of the step, as the trainer keeps them
            NDArray sq = w.square();
            sq.attach(step);
            gc.backward(sq.sum());
        }
    }

    @Test
    void firstStepIsSignedLearningRatePlusDecayAndNothingAccumulates() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            float[] w0 = {1f, -2f, 3f, 0.5f, -0.25f, 4f};
            NDArray w = manager.create(w0, new Shape(3, 2));
            w.setRequiresGradient(true);
            double lr = 0.1;
            double decay = 0.01;
            AdamW adam = new AdamW(manager, Map.of("w", w), 0.9, 0.999, 1e-8, decay, 0);
            lossStep(w);
            float norm = adam.step(lr);
            double sq = 0;
            for (float x : w0) {
                sq += 4.0 * x * x;
            }
            assertEquals(Math.sqrt(sq), norm, 1e-4, "global gradient norm before clipping");
            // step 1: m_hat = g, v_hat = g^2, so the Adam part is lr * sign(g); decay lr * wd * w (decoupled)
            float[] expected = new float[w0.length];
            for (int i = 0; i < w0.length; i++) {
                expected[i] = (float) (w0[i] - lr * Math.signum(w0[i]) - lr * decay * w0[i]);
            }
            assertArrayEquals(expected, w.toFloatArray(), 1e-6f);
            int after1 = resourceCount(manager);
            for (int s = 0; s < 3; s++) {
                lossStep(w);
                adam.step(lr);
            }
            assertEquals(after1, resourceCount(manager), "arrays left in the parameters' manager by steps 2-4");
        }
    }

    @Test
    void aNonFiniteGradientUpdatesNothingAndCanBeRecomputed() {
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray w = manager.create(new float[] {1f, -2f}, new Shape(2));
            w.setRequiresGradient(true);
            AdamW adam = new AdamW(manager, Map.of("w", w), 0.9, 0.999, 1e-8, 0, 0);
            try (NDManager step = manager.newSubManager();
                 GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                // d/dw of sum(w * inf) is inf
                NDArray l = w.mul(Float.POSITIVE_INFINITY);
                l.attach(step);
                gc.backward(l.sum());
            }
            AdamW.NonFiniteGradientException e = org.junit.jupiter.api.Assertions.assertThrows(
                    AdamW.NonFiniteGradientException.class, () -> adam.step(0.1));
            assertEquals("non-finite gradient of w at optimizer step 1 (lower the learning rate)", e.getMessage());
            assertEquals(0, adam.steps());
            assertArrayEquals(new float[] {1f, -2f}, w.toFloatArray());
            adam.zeroGradients();
            lossStep(w);
            adam.step(0.1);
            assertEquals(1, adam.steps());
            assertArrayEquals(new float[] {0.9f, -1.9f}, w.toFloatArray(), 1e-6f);
        }
    }
}
