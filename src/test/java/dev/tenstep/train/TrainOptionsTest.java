package dev.tenstep.train;

import dev.tenstep.sampling.NoiseSchedule;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The min-SNR-gamma loss weight and the options' checks. */
class TrainOptionsTest {
    private static TrainOptions withGamma(double gamma) {
        return new TrainOptions(Path.of("m"), Path.of("c"), "tiny", ModelSizes.tiny(), TrainingData.shapes(32), 1, 10,
                10, 10, 4, 4, 1e-3, 1e-3, 2, 1e-3, 0.1, gamma, 5, true);
    }

    @Test
    void weightIsMinOfSnrAndGammaOverSnr() {
        TrainOptions o = withGamma(5);
        // SNR = alphaBar / (1 - alphaBar): 1 at 0.5 (below gamma: weight 1), 9 at 0.9 (weight 5/9)
        assertEquals(1.0, o.lossWeight(0.5), 1e-15);
        assertEquals(5.0 / 9.0, o.lossWeight(0.9), 1e-12);
        assertEquals(1.0, o.lossWeight(0.01), 1e-15);
        // on SD's scaled-linear schedule: t = 0 has alphaBar 0.99915, SNR 1175, weight 5 / 1175
        NoiseSchedule schedule = NoiseSchedule.of(PipelineWriter.schedulerConfig());
        double a0 = schedule.alphaBar(0);
        assertEquals(0.99915, a0, 1e-5);
        assertEquals(5.0 * (1 - a0) / a0, o.lossWeight(a0), 1e-9);
        assertEquals(1.0, o.lossWeight(schedule.alphaBar(999)), 1e-15);
    }

    @Test
    void gammaZeroIsTheUnweightedLossAndIsRecorded() {
        assertEquals(1.0, withGamma(0).lossWeight(0.9999), 0.0);
        assertEquals(0.0, withGamma(0).recipe().get("snr_gamma"));
        assertEquals(5.0, withGamma(5).recipe().get("snr_gamma"));
    }

    @Test
    void refusesANegativeOrNonFiniteGamma() {
        for (double g : new double[] {-1, Double.NaN, Double.POSITIVE_INFINITY}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> withGamma(g));
            assertTrue(e.getMessage().contains("--snr-gamma"), e.getMessage());
        }
    }
}
