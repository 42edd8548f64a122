package dev.tenstep.train;

import dev.tenstep.sampling.ideal.ImageDataSet;
import dev.tenstep.sampling.ideal.ImageFolder;
import dev.tenstep.sampling.ideal.ShapesDataSet;
import dev.tenstep.sampling.ideal.ShapesGenerator;

import java.io.IOException;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * Captioned RGB pictures to train on, drawn one at a time from a random stream (so that a run is
 * reproduced from its seed and resumed exactly from a step number): the procedurally generated
 * shapes ({@link ShapesGenerator}, unbounded), or a folder of PNG + .txt pairs
 * ({@link ImageFolder}, drawn uniformly with replacement). Pictures larger than the training size by
 * an integer factor are box-filtered down to it.
 */
public interface TrainingData {
    /**
     * One picture and its caption.
     *
     * @param image   [3, size, size] row-major in [-1, 1]
     * @param caption its caption
     */
    record Example(float[] image, String caption) {
    }

    /** Draws one example from {@code rnd}. */
    Example next(SplittableRandom rnd);

    /** What the data is, for the training log ("shapes (generated)", a folder's path). */
    String describe();

    /** The generated shapes pictures (64 px), box-filtered down to {@code size} (a divisor of 64). */
    static TrainingData shapes(int size) {
        int factor = factor(ShapesDataSet.SIZE, size, "the shapes pictures");
        ShapesGenerator generator = new ShapesGenerator(true);
        return new TrainingData() {
            @Override
            public Example next(SplittableRandom rnd) {
                ShapesGenerator.Example e = generator.next(rnd);
                return new Example(downsample(e.image(), ShapesDataSet.SIZE, factor), e.caption());
            }

            @Override
            public String describe() {
                return "shapes (generated, unbounded)";
            }
        };
    }

    /**
     * The pictures of a folder ({@code NAME.png} + {@code NAME.txt}), all of one size that is
     * {@code size} times an integer.
     *
     * @throws IllegalArgumentException naming the problem (see {@link ImageFolder#load}), or a size
     *                                  that is not a multiple of {@code size}
     * @throws IOException              if the folder cannot be read
     */
    static TrainingData folder(Path dir, int size) throws IOException {
        ImageDataSet set = ImageFolder.load(dir);
        if (set.height() != set.width()) {
            throw new IllegalArgumentException(dir + ": pictures are " + set.width() + "x" + set.height()
                    + "; training needs square pictures of " + size + " px (or a multiple)");
        }
        int factor = factor(set.height(), size, dir + "'s pictures");
        return new TrainingData() {
            @Override
            public Example next(SplittableRandom rnd) {
                int i = rnd.nextInt(set.size());
                return new Example(downsample(set.image(i), set.height(), factor), set.caption(i));
            }

            @Override
            public String describe() {
                return dir + " (" + set.size() + " pictures)";
            }
        };
    }

    private static int factor(int from, int to, String what) {
        if (to <= 0 || from % to != 0) {
            throw new IllegalArgumentException(what + " are " + from + " px, not a multiple of the training size " + to + " px");
        }
        return from / to;
    }

    /** [3, side, side] averaged over factor x factor blocks; the array itself for factor 1. */
    static float[] downsample(float[] chw, int side, int factor) {
        if (factor == 1) {
            return chw;
        }
        int out = side / factor;
        float[] r = new float[3 * out * out];
        float norm = 1f / (factor * factor);
        for (int c = 0; c < 3; c++) {
            for (int y = 0; y < out; y++) {
                for (int x = 0; x < out; x++) {
                    float s = 0;
                    for (int dy = 0; dy < factor; dy++) {
                        for (int dx = 0; dx < factor; dx++) {
                            s += chw[c * side * side + (y * factor + dy) * side + x * factor + dx];
                        }
                    }
                    r[c * out * out + y * out + x] = s * norm;
                }
            }
        }
        return r;
    }
}
