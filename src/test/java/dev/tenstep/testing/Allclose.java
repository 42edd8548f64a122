package dev.tenstep.testing;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** numpy.allclose-style comparison that reports the max deviation (printed, for the closing notes). */
public final class Allclose {
    private Allclose() {
    }

    /**
     * Asserts {@code |actual - expected| <= atol + rtol * |expected|} elementwise and equal shapes.
     *
     * @return the max absolute deviation
     */
    public static double assertClose(String label, NDArray expected, NDArray actual, double atol, double rtol) {
        assertArrayEquals(expected.getShape().getShape(), actual.getShape().getShape(), label + ": shape");
        double[] e = toDoubles(expected);
        double[] a = toDoubles(actual);
        double maxDev = 0;
        int worst = -1;
        int bad = 0;
        for (int i = 0; i < e.length; i++) {
            double d = Math.abs(a[i] - e[i]);
            if (!(d <= atol + rtol * Math.abs(e[i]))) {
                bad++;
                if (worst < 0) {
                    worst = i;
                }
            }
            if (d > maxDev || Double.isNaN(d)) {
                maxDev = d;
            }
        }
        System.out.printf("[allclose] %-55s max|dev| %.3e (atol %.1e, rtol %.1e)%n", label, maxDev, atol, rtol);
        if (bad > 0) {
            fail(String.format("%s: %d of %d elements out of tolerance; max|dev| %.3e; first at flat index %d: expected %s got %s",
                    label, bad, e.length, maxDev, worst, e[worst], a[worst]));
        }
        return maxDev;
    }

    public static double assertClose(String label, NDArray expected, NDArray actual, Fixtures.Tolerance tol) {
        return assertClose(label, expected, actual, tol.atol(), tol.rtol());
    }

    /** Exact comparison of integer tensors. */
    public static void assertExact(String label, NDArray expected, NDArray actual) {
        assertArrayEquals(expected.getShape().getShape(), actual.getShape().getShape(), label + ": shape");
        long[] e = expected.toType(DataType.INT64, false).toLongArray();
        long[] a = actual.toType(DataType.INT64, false).toLongArray();
        if (!Arrays.equals(e, a)) {
            fail(label + ": expected " + Arrays.toString(e) + " got " + Arrays.toString(a));
        }
    }

    public static double[] toDoubles(NDArray x) {
        return x.toType(DataType.FLOAT64, false).toDoubleArray();
    }
}
