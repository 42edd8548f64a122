package dev.tenstep.sampling;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@link RngKind}: initial latent then per-step noise continue one torch generator, as the fixture's sequences. */
class RngSequenceTest {
    @Test
    void initialThenStepNoiseFollowTheFixtureSequence() throws IOException {
        check(RngKind.TORCH_CPU, "randn.safetensors", "seed42_sequence_init", "seed42_sequence_step1", "seed42_sequence_step2");
        check(RngKind.PHILOX, "philox.safetensors", "seed42_sequence_0", "seed42_sequence_1", "seed42_sequence_2");
    }

    private static void check(RngKind kind, String file, String... names) throws IOException {
        Shape shape = new Shape(1, 4, 8, 8);
        try (NDManager m = NDManager.newBaseManager();
             SafeTensors st = SafeTensors.open(Fixtures.root().resolve("torch-randn").resolve(file))) {
            RngKind.SeedNoise sn = kind.open(42);
            assertArrayEquals(st.load(m, names[0]).toFloatArray(), sn.initial(m, shape).toFloatArray());
            NoiseSource steps = sn.perStep();
            // step indices do not matter: each request takes the next draw (only noisy steps ask)
            assertArrayEquals(st.load(m, names[1]).toFloatArray(), steps.noise(3, m, shape).toFloatArray());
            assertArrayEquals(st.load(m, names[2]).toFloatArray(), steps.noise(7, m, shape).toFloatArray());
        }
    }

    @Test
    void namesAsOptionAndInfotext() {
        assertEquals(RngKind.PHILOX, RngKind.parse("GPU"));
        assertEquals(RngKind.PHILOX, RngKind.parse("NV"));
        assertEquals(RngKind.TORCH_CPU, RngKind.parse("CPU"));
        assertEquals(RngKind.TORCH_CPU, RngKind.parse("torch-cpu"));
        assertEquals(RngKind.TENSTEP, RngKind.parse("tenstep"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RngKind.parse("mt"));
        assertEquals("unknown rng 'mt' (valid: philox, torch-cpu, tenstep)", e.getMessage());
    }
}
