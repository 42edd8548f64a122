package dev.tenstep.model.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.model.Weights;
import dev.tenstep.model.nn.GroupNorm;
import dev.tenstep.model.nn.AttentionSettings;
import dev.tenstep.model.nn.Ops;
import dev.tenstep.testing.Allclose;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** GroupNorm and sliced attention against plain Java loops. */
class UNetPrimitivesTest {
    @TempDir
    Path tmp;

    private static float[] randn(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    @Test
    void groupNormMatchesLoop() throws Exception {
        int n = 2, c = 8, h = 3, w = 5, groups = 4;
        double eps = 1e-6;
        Random r = new Random(1);
        float[] x = randn(r, n * c * h * w);
        for (int i = 0; i < x.length; i++) {
            x[i] = x[i] * 2 + 0.5f; // non-zero mean and scale
        }
        float[] gamma = randn(r, c);
        float[] beta = randn(r, c);
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> t = new LinkedHashMap<>();
            t.put("gn.weight", m.create(gamma));
            t.put("gn.bias", m.create(beta));
            SafeTensors.write(tmp.resolve("model.safetensors"), t, Map.of());
            try (Weights weights = Weights.open(tmp, m, UnaryOperator.identity())) {
                GroupNorm gn = new GroupNorm(weights, "gn", groups, c, eps);
                weights.finish();
                NDArray out = gn.forward(m.create(x, new Shape(n, c, h, w)));

                double[] expected = new double[x.length];
                int per = c / groups * h * w;
                for (int b = 0; b < n; b++) {
                    for (int g = 0; g < groups; g++) {
                        int base = (b * c + g * (c / groups)) * h * w;
                        double mean = 0;
                        for (int i = 0; i < per; i++) {
                            mean += x[base + i];
                        }
                        mean /= per;
                        double var = 0;
                        for (int i = 0; i < per; i++) {
                            var += (x[base + i] - mean) * (x[base + i] - mean);
                        }
                        var /= per;
                        for (int i = 0; i < per; i++) {
                            int ch = g * (c / groups) + i / (h * w);
                            expected[base + i] = (x[base + i] - mean) / Math.sqrt(var + eps) * gamma[ch] + beta[ch];
                        }
                    }
                }
                Allclose.assertClose("GroupNorm(4 groups, 8 channels) vs loop", m.create(expected, new Shape(n, c, h, w)),
                        out.toType(ai.djl.ndarray.types.DataType.FLOAT64, false), 1e-5, 1e-5);
            }
        }
    }

    /** softmax(q k^T * scale + mask) v for one batch entry, in double. */
    private static double[] attentionLoop(float[] q, float[] k, float[] v, float[] mask, int bsz, int lq, int lk, int d, int dv,
                                          double scale) {
        double[] out = new double[bsz * lq * dv];
        for (int b = 0; b < bsz; b++) {
            for (int i = 0; i < lq; i++) {
                double[] s = new double[lk];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < lk; j++) {
                    double dot = 0;
                    for (int e = 0; e < d; e++) {
                        dot += (double) q[(b * lq + i) * d + e] * k[(b * lk + j) * d + e];
                    }
                    s[j] = dot * scale + (mask == null ? 0 : mask[i * lk + j]);
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < lk; j++) {
                    s[j] = Math.exp(s[j] - max);
                    sum += s[j];
                }
                for (int j = 0; j < lk; j++) {
                    for (int e = 0; e < dv; e++) {
                        out[(b * lq + i) * dv + e] += s[j] / sum * v[(b * lk + j) * dv + e];
                    }
                }
            }
        }
        return out;
    }

    @Test
    void slicedAttentionMatchesLoopAndUnsliced() {
        int bsz = 3, lq = 13, lk = 7, d = 4, dv = 5;
        float scale = (float) Math.pow(d, -0.5);
        Random r = new Random(2);
        float[] q = randn(r, bsz * lq * d);
        float[] k = randn(r, bsz * lk * d);
        float[] v = randn(r, bsz * lk * dv);
        float[] mask = new float[lq * lk];
        for (int i = 0; i < lq; i++) {
            for (int j = 0; j < lk; j++) {
                mask[i * lk + j] = j > i ? -1e9f : 0f; // causal-style mask to check it is sliced with the rows
            }
        }
        // budget for 2 query rows per slice: 13 rows -> 7 slices
        long budget = 2L * bsz * lk * 4;
        AttentionSettings twoRows = new AttentionSettings(false, AttentionSettings.AUTO_ROWS, budget);
        assertEquals(2, twoRows.rowsPerSlice(bsz, lk));
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray qa = m.create(q, new Shape(bsz, lq, d));
            NDArray ka = m.create(k, new Shape(bsz, lk, d));
            NDArray va = m.create(v, new Shape(bsz, lk, dv));
            NDArray ma = m.create(mask, new Shape(lq, lk));
            for (boolean withMask : new boolean[] {false, true}) {
                NDArray mk = withMask ? ma : null;
                // default mode: the fused kernel without mask, one slice of the score matrix with it
                NDArray unsliced = Ops.attention(qa, ka, va, scale, mk);
                NDArray sliced;
                try (AttentionSettings.Scope ignored = AttentionSettings.use(twoRows)) {
                    assertTrue(AttentionSettings.current().rowsPerSlice(bsz, lk) < lq, "forces several slices");
                    assertTrue(!Ops.fusedAttention(), "sliced path");
                    sliced = Ops.attention(qa, ka, va, scale, mk);
                }
                double[] expected = attentionLoop(q, k, v, withMask ? mask : null, bsz, lq, lk, d, dv, scale);
                NDArray exp = m.create(expected, new Shape(bsz, lq, dv));
                String tag = withMask ? " (masked)" : "";
                Allclose.assertClose("sliced attention vs loop" + tag, exp,
                        sliced.toType(ai.djl.ndarray.types.DataType.FLOAT64, false), 1e-5, 1e-5);
                Allclose.assertClose((withMask ? "unsliced" : "fused") + " attention vs loop" + tag, exp,
                        unsliced.toType(ai.djl.ndarray.types.DataType.FLOAT64, false), 1e-5, 1e-5);
                Allclose.assertClose("sliced vs " + (withMask ? "unsliced" : "fused") + " attention" + tag, unsliced, sliced, 1e-6, 1e-6);
            }
        }
    }
}
