package dev.tenstep.sampling.ideal;

import java.util.SplittableRandom;

/**
 * An unbounded stream of captioned shapes pictures over the grammar of {@link ShapesDataSet} (shape,
 * shape colour, size, position, background colour, plain or gradient background), for training: each
 * picture draws every attribute at random, its centre jittered continuously by up to 4 pixels around the
 * named position and its radius by up to 12% around the named size, so no two pictures need be alike.
 * Pictures are drawn exactly as the 240 fixed ones ({@link ShapesDataSet#render}).
 *
 * <p>Captions read as the fixed set's ("a large blue star on a navy background, top left"); with
 * {@code partialCaptions} each of the size, the background and the position is left out with probability
 * 1/5 ("a blue star, top left", "a large blue star"), so that short prompts are in the training
 * distribution too. The same random stream gives the same pictures and captions on every JVM.
 */
public final class ShapesGenerator {
    private static final double[][] CENTRES = {{18, 18}, {46, 18}, {18, 46}, {46, 46}, {32, 32}};
    private static final double[] RADII = {9, 15};
    private static final String[] SIZES = {"small", "large"};

    /**
     * One picture and its caption.
     *
     * @param image   [3, 64, 64] row-major, in [-1, 1]
     * @param caption the caption over the grammar
     */
    public record Example(float[] image, String caption) {
    }

    private final boolean partialCaptions;

    /** @param partialCaptions whether parts of the caption are sometimes left out (see the class comment) */
    public ShapesGenerator(boolean partialCaptions) {
        this.partialCaptions = partialCaptions;
    }

    /** Draws one example from {@code rnd} (a fixed number of draws per example is not promised). */
    public Example next(SplittableRandom rnd) {
        String shape = ShapesDataSet.SHAPES.get(rnd.nextInt(ShapesDataSet.SHAPES.size()));
        String colour = ShapesDataSet.SHAPE_COLOURS.get(rnd.nextInt(ShapesDataSet.SHAPE_COLOURS.size()));
        int p = rnd.nextInt(ShapesDataSet.POSITIONS.size());
        int s = rnd.nextInt(SIZES.length);
        String bg = ShapesDataSet.BACKGROUND_COLOURS.get(rnd.nextInt(ShapesDataSet.BACKGROUND_COLOURS.size()));
        boolean gradient = !bg.equals("black") && rnd.nextInt(3) == 0;
        double cx = CENTRES[p][0] + (rnd.nextDouble() * 8 - 4);
        double cy = CENTRES[p][1] + (rnd.nextDouble() * 8 - 4);
        double r = RADII[s] * (1 + (rnd.nextDouble() * 0.24 - 0.12));
        float[] image = ShapesDataSet.render(shape, ShapesDataSet.PALETTE.get(colour), ShapesDataSet.PALETTE.get(bg),
                gradient, cx, cy, r);
        boolean withSize = !partialCaptions || rnd.nextInt(5) != 0;
        boolean withBackground = !partialCaptions || rnd.nextInt(5) != 0;
        boolean withPosition = !partialCaptions || rnd.nextInt(5) != 0;
        StringBuilder caption = new StringBuilder("a ");
        if (withSize) {
            caption.append(SIZES[s]).append(' ');
        }
        caption.append(colour).append(' ').append(shape);
        if (withBackground) {
            caption.append(" on a ").append(bg).append(gradient ? " gradient" : "").append(" background");
        }
        if (withPosition) {
            caption.append(", ").append(ShapesDataSet.POSITIONS.get(p));
        }
        return new Example(image, caption.toString());
    }
}
