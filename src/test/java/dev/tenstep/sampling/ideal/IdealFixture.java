package dev.tenstep.sampling.ideal;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.testing.Fixtures;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.fail;

/** The closed-form fixture {@code ideal-denoiser/} (12 images 3x8x8, captions, query points, sampler runs). */
public final class IdealFixture {
    private IdealFixture() {
    }

    public static Path dir() {
        Path p = Fixtures.root().resolve("ideal-denoiser");
        if (!Files.isRegularFile(p.resolve("ideal.safetensors")) || !Files.isRegularFile(p.resolve("cases.json"))) {
            fail("ideal-denoiser fixture not found at " + p);
        }
        return p;
    }

    public static JsonNode cases() {
        try {
            return new ObjectMapper().readTree(dir().resolve("cases.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static Map<String, NDArray> tensors(NDManager m) {
        try {
            return SafeTensors.read(dir().resolve("ideal.safetensors"), m);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The fixture's data set with its captions. */
    public static ImageDataSet dataSet(Map<String, NDArray> t) {
        NDArray ds = t.get("dataset");
        long[] s = ds.getShape().getShape();
        int d = (int) (s[1] * s[2] * s[3]);
        float[] all = ds.toFloatArray();
        List<float[]> images = new ArrayList<>();
        for (int i = 0; i < s[0]; i++) {
            images.add(java.util.Arrays.copyOfRange(all, i * d, (i + 1) * d));
        }
        List<String> captions = new ArrayList<>();
        cases().get("captions").forEach(c -> captions.add(c.asText()));
        return new ImageDataSet("fixture", (int) s[1], (int) s[2], (int) s[3], images, captions);
    }

    /** Row {@code i} of a [B, ...] float tensor as doubles. */
    public static double[] row(NDArray a, int i) {
        long[] s = a.getShape().getShape();
        int d = (int) (a.size() / s[0]);
        float[] all = a.toFloatArray();
        double[] out = new double[d];
        for (int k = 0; k < d; k++) {
            out[k] = all[i * d + k];
        }
        return out;
    }
}
