package dev.tenstep.sampling.ideal;

import dev.tenstep.model.config.SchedulerConfig;
import dev.tenstep.sampling.NoiseSchedule;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * Names and shared settings of ideal-denoiser models: {@code ideal:shapes} (the built-in {@link ShapesDataSet})
 * and {@code ideal:DIR} (an {@link ImageFolder}).
 */
public final class IdealModels {
    /** The prefix of an ideal model's name, as in {@code --model ideal:shapes}. */
    public static final String PREFIX = "ideal:";
    /** The built-in model's full name. */
    public static final String SHAPES = PREFIX + ShapesDataSet.NAME;

    private static final NoiseSchedule SD_TABLE = NoiseSchedule.of(SchedulerConfig.of("DDIMScheduler", 1000, 0.00085,
            0.012, "scaled_linear", null, "epsilon", 1, false, "leading"));

    private IdealModels() {
    }

    /**
     * The training table the ideal model borrows so that every schedule, its noise levels and its timesteps mean
     * what they mean for Stable Diffusion 1.x/2.x: 1000 scaled-linear betas 0.00085..0.012, steps_offset 1,
     * set_alpha_to_one false (sigma from 0.0292 to 14.6146). The denoiser itself only uses sigma.
     */
    public static NoiseSchedule noiseSchedule() {
        return SD_TABLE;
    }

    /** Whether a model name denotes an ideal model ({@code ideal:...}). */
    public static boolean isIdeal(String model) {
        return model != null && model.startsWith(PREFIX);
    }

    /**
     * The data set of {@code ideal:shapes} or {@code ideal:DIR}.
     *
     * @throws IllegalArgumentException if the name has no {@code ideal:} prefix or the folder is not a valid set
     * @throws UncheckedIOException     if the folder cannot be read
     */
    public static ImageDataSet dataSet(String model) {
        if (!isIdeal(model)) {
            throw new IllegalArgumentException("not an ideal model name (ideal:shapes or ideal:DIR): " + model);
        }
        String rest = model.substring(PREFIX.length());
        if (rest.equals(ShapesDataSet.NAME)) {
            return ShapesDataSet.get();
        }
        if (rest.isBlank()) {
            throw new IllegalArgumentException("ideal model needs a data set: ideal:shapes or ideal:DIR (a folder of "
                    + "PNG images with one .txt caption each)");
        }
        try {
            return ImageFolder.load(Path.of(rest));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the image folder " + rest + ": " + e.getMessage(), e);
        }
    }
}
