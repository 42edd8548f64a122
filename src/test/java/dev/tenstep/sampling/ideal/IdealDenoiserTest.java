package dev.tenstep.sampling.ideal;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The ideal denoiser against the float64 closed-form values of the {@code ideal-denoiser} fixture. */
class IdealDenoiserTest {
    /** Fixture values are float32 roundings of float64 results; our sums are in double. */
    static final double ATOL = 2e-5;
    static final double RTOL = 1e-5;

    static double assertClose(String label, double[] expected, double[] actual, double atol, double rtol) {
        assertEquals(expected.length, actual.length, label + ": length");
        double max = 0;
        for (int k = 0; k < expected.length; k++) {
            double dev = Math.abs(expected[k] - actual[k]);
            max = Math.max(max, dev);
            if (!(dev <= atol + rtol * Math.abs(expected[k]))) {
                throw new AssertionError(label + ": index " + k + " expected " + expected[k] + " got " + actual[k]);
            }
        }
        System.out.printf("[allclose] %-40s max|dev| %.3e%n", label, max);
        return max;
    }

    @Test
    void x0HatEpsHatAndGuidedEpsOfTheFixture() {
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> t = IdealFixture.tensors(m);
            ImageDataSet data = IdealFixture.dataSet(t);
            int[] all = IdealDenoiser.allIndices(data.size());
            int[] red = data.subset("red", "prompt");
            assertArrayEquals(new int[] {0, 3, 6, 9}, red);
            float[] sigmas = t.get("query_sigmas").toFloatArray();
            assertArrayEquals(new float[] {0.05f, 0.5f, 2.0f, 14.6f}, sigmas, 1e-6f);
            NDArray qx = t.get("query_x");
            for (int k = 0; k < sigmas.length; k++) {
                for (int b = 0; b < 4; b++) {
                    double[] x = IdealFixture.row(qx, b);
                    double s = sigmas[k];
                    assertClose("x0_hat." + k + "[" + b + "]", IdealFixture.row(t.get("x0_hat." + k), b),
                            IdealDenoiser.x0Hat(data, x, s, all), ATOL, RTOL);
                    assertClose("eps_hat." + k + "[" + b + "]", IdealFixture.row(t.get("eps_hat." + k), b),
                            IdealDenoiser.epsHat(data, x, s, all), ATOL / s, RTOL);
                    IdealDenoiser guided = new IdealDenoiser(data, red, all, 3.0);
                    assertClose("eps_cfg_red_w3." + k + "[" + b + "]", IdealFixture.row(t.get("eps_cfg_red_w3." + k), b),
                            guided.guidedEps(x, s), 4 * ATOL / s, RTOL);
                    // the NDArray path of the Denoiser interface gives the same (float32) values
                    NDArray xa = m.create(toFloats(x), new Shape(1, 3, 8, 8));
                    double[] viaArray = toDoubles(guided.eps(xa, s, 123.0).toFloatArray());
                    assertClose("Denoiser.eps " + k + "[" + b + "]", guided.guidedEps(x, s), viaArray, 1e-6 / s, 1e-6);
                }
            }
        }
    }

    @Test
    void scalesBelowOneApplyTheGuidanceFormula() {
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> t = IdealFixture.tensors(m);
            ImageDataSet data = IdealFixture.dataSet(t);
            int[] all = IdealDenoiser.allIndices(data.size());
            int[] red = data.subset("red", "prompt");
            double[] x = IdealFixture.row(t.get("query_x"), 0);
            double s = 2.0;
            double[] c = IdealDenoiser.epsHat(data, x, s, red);
            double[] u = IdealDenoiser.epsHat(data, x, s, all);
            for (double w : new double[] {0.0, 0.5}) {
                double[] expected = new double[c.length];
                for (int k = 0; k < c.length; k++) {
                    expected[k] = u[k] + w * (c[k] - u[k]);
                }
                assertClose("w = " + w, expected, new IdealDenoiser(data, red, all, w).guidedEps(x, s), 1e-12, 1e-12);
            }
            assertClose("w = 1", c, new IdealDenoiser(data, red, all, 1.0).guidedEps(x, s), 1e-12, 1e-12);
        }
    }

    @Test
    void sigmaZeroIsTheNearestPointAndTinySigmaIsStable() {
        ImageDataSet data = new ImageDataSet("two", 1, 1, 2, List.of(new float[] {0f, 0f}, new float[] {1f, 1f}),
                List.of("zero", "one"));
        int[] all = {0, 1};
        assertArrayEquals(new double[] {1, 1}, IdealDenoiser.x0Hat(data, new double[] {0.6, 0.7}, 0.0, all), 0.0);
        // at sigma 1e-30 the logits are ~ -1e59: a naive softmax gives NaN, the shifted one the nearest point
        assertArrayEquals(new double[] {0, 0}, IdealDenoiser.x0Hat(data, new double[] {0.4, 0.3}, 1e-30, all), 0.0);
        // equidistant: the mean
        assertArrayEquals(new double[] {0.5, 0.5}, IdealDenoiser.x0Hat(data, new double[] {0.5, 0.5}, 1e-3, all), 1e-15);
        // large sigma: the mean of the data
        double[] far = IdealDenoiser.x0Hat(data, new double[] {0.2, -0.1}, 1e6, all);
        assertEquals(0.5, far[0], 1e-9);
        assertThrows(IllegalArgumentException.class, () -> IdealDenoiser.epsHat(data, new double[] {0, 0}, 0.0, all));
    }

    @Test
    void captionSubsetsAndTheirErrors() {
        ImageDataSet data = new ImageDataSet("s", 1, 1, 1, List.of(new float[] {0f}, new float[] {0.5f}, new float[] {1f}),
                List.of("a Red circle, top left", "a blue circle", "red square"));
        assertArrayEquals(new int[] {0, 2}, data.subset("RED", "prompt"));
        assertArrayEquals(new int[] {0}, data.subset("a red circle", "prompt"));
        assertArrayEquals(new int[] {0, 1, 2}, data.subset("", "negative prompt"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> data.subset("a green circle", "prompt"));
        assertTrue(e.getMessage().contains("unknown word green"), e.getMessage());
        assertTrue(e.getMessage().contains("known words: blue, circle, left, red, square, top"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> IdealDenoiser.forPrompt(data, "red", "blue square", 7.5));
        assertTrue(e.getMessage().startsWith("no image of the data set 's' matches the negative prompt \"blue square\""),
                e.getMessage());
    }

    static float[] toFloats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }

    static double[] toDoubles(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }
}
