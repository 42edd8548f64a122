package dev.tenstep.fidelity;

import dev.tenstep.sampling.ideal.ShapesDataSet;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads back what a picture of the shapes grammar ({@link ShapesDataSet}: "a small red circle on a
 * navy background, top left") shows, with no human and no learned model: the foreground colour, the
 * shape, its position and size. It is the accuracy check of generated pictures: a picture is right for
 * a prompt when the colour and shape read back equal the prompt's.
 *
 * <p>How: every pixel goes to the nearest colour of the palette ({@link ShapesDataSet#PALETTE}, the six
 * shape colours and the seven background colours, Euclidean distance in 8-bit RGB), or to none when
 * that distance exceeds {@link #MAX_COLOUR_DISTANCE} (blurred edges, gradient shades). The foreground
 * colour is the shape colour with the most pixels (at least {@link #MIN_PIXELS}); the shape is read from
 * that colour's pixel mask by its fill ratio, area over bounding-box area, which is pi/4 = 0.785 for a
 * circle, 1 for a square, about 0.5 for a triangle and 0.385 for the set's five-pointed star (inner
 * radius 0.45 of the outer). Thresholds: 0.48 (pixelated small stars reach 0.44, small triangles go down to 0.53), 0.64, 0.89. Stray pixels of the
 * foreground colour far from the shape enlarge the bounding box and so read as a star: a picture with
 * such a spatter is counted wrong, which is the strict side.
 *
 * <p>On the data set's own 240 pictures the reading is exact (colour, shape, position and size of
 * every picture: {@code ShapeAnalyserTest}).
 */
public final class ShapeAnalyser {
    /** Largest RGB distance at which a pixel still counts as a palette colour. */
    public static final double MAX_COLOUR_DISTANCE = 60;
    /** Fewest pixels of a shape colour that make a foreground (a small star has about 90). */
    public static final int MIN_PIXELS = 20;

    private static final Pattern CAPTION = Pattern.compile(
            "\\b(small|large)?\\s*(red|green|blue|yellow|purple|orange)\\s+(circle|square|triangle|star)\\b");
    private static final List<String> POSITION_WORDS = List.of("top left", "top right", "bottom left", "bottom right", "center");

    private ShapeAnalyser() {
    }

    /**
     * What a picture shows.
     *
     * @param colour   the foreground colour name, or null when no shape colour covers {@link #MIN_PIXELS} pixels
     * @param shape    circle, square, triangle or star; null without a foreground
     * @param position top left, top right, bottom left, bottom right or center (the mask's centroid
     *                 relative to the middle third of the picture); null without a foreground
     * @param size     small or large (mask area against the midpoint of the set's two sizes); null without a foreground
     * @param pixels   the foreground mask's pixel count
     * @param fill     area over bounding-box area of the mask, 0..1
     */
    public record Reading(String colour, String shape, String position, String size, int pixels, double fill) {
    }

    /**
     * What a prompt of the grammar asks for; absent parts are null.
     *
     * @param colour   the shape's colour word
     * @param shape    the shape word
     * @param position a position phrase, or null
     * @param size     small or large, or null
     */
    public record Target(String colour, String shape, String position, String size) {
        /** Whether the reading shows this target's colour and shape (the accuracy criterion). */
        public boolean matches(Reading r) {
            return colour.equals(r.colour()) && shape.equals(r.shape());
        }
    }

    /**
     * The colour and shape a prompt names ("a large blue star on a navy background, top left"), when it
     * names one shape colour directly followed by a shape word.
     */
    public static Optional<Target> target(String prompt) {
        String p = prompt.toLowerCase(Locale.ROOT);
        Matcher m = CAPTION.matcher(p);
        if (!m.find()) {
            return Optional.empty();
        }
        String position = null;
        for (String w : POSITION_WORDS) {
            if (p.contains(w)) {
                position = w;
                break;
            }
        }
        return Optional.of(new Target(m.group(2), m.group(3), position, m.group(1)));
    }

    /** Reads a picture of any size (the set's pictures are 64 x 64; positions and sizes scale with it). */
    public static Reading read(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        int[] argb = image.getRGB(0, 0, w, h, null, 0, w);
        List<String> names = new ArrayList<>(ShapesDataSet.SHAPE_COLOURS);
        names.addAll(ShapesDataSet.BACKGROUND_COLOURS);
        int shapeColours = ShapesDataSet.SHAPE_COLOURS.size();
        int[][] rgb = new int[names.size()][];
        for (int i = 0; i < names.size(); i++) {
            rgb[i] = ShapesDataSet.PALETTE.get(names.get(i));
        }
        int[] label = new int[argb.length];
        int[] counts = new int[shapeColours];
        for (int i = 0; i < argb.length; i++) {
            int r = (argb[i] >> 16) & 0xff;
            int g = (argb[i] >> 8) & 0xff;
            int b = argb[i] & 0xff;
            int best = -1;
            double bestD = MAX_COLOUR_DISTANCE * MAX_COLOUR_DISTANCE;
            for (int k = 0; k < rgb.length; k++) {
                double d = sq(r - rgb[k][0]) + sq(g - rgb[k][1]) + sq(b - rgb[k][2]);
                if (d <= bestD) {
                    bestD = d;
                    best = k;
                }
            }
            label[i] = best;
            if (best >= 0 && best < shapeColours) {
                counts[best]++;
            }
        }
        int fg = 0;
        for (int k = 1; k < shapeColours; k++) {
            if (counts[k] > counts[fg]) {
                fg = k;
            }
        }
        if (counts[fg] < MIN_PIXELS) {
            return new Reading(null, null, null, null, counts[fg], 0);
        }
        int n = counts[fg];
        int[] xs = new int[n];
        int[] ys = new int[n];
        double sx = 0;
        double sy = 0;
        int j = 0;
        for (int i = 0; i < label.length; i++) {
            if (label[i] == fg) {
                xs[j] = i % w;
                ys[j] = i / w;
                sx += xs[j] + 0.5;
                sy += ys[j] + 0.5;
                j++;
            }
        }
        java.util.Arrays.sort(xs);
        java.util.Arrays.sort(ys);
        int lo = 0;
        int hi = n - 1;
        double bw = xs[hi] - xs[lo] + 1;
        double bh = ys[hi] - ys[lo] + 1;
        double fill = Math.min(1.0, n / (bw * bh));
        String shape = fill < 0.48 ? "star" : fill < 0.64 ? "triangle" : fill < 0.89 ? "circle" : "square";
        double cx = sx / n / w;
        double cy = sy / n / h;
        String position;
        if (Math.abs(cx - 0.5) < 1.0 / 6 && Math.abs(cy - 0.5) < 1.0 / 6) {
            position = "center";
        } else {
            position = (cy < 0.5 ? "top " : "bottom ") + (cx < 0.5 ? "left" : "right");
        }
        // the set's radii are 9 and 15 px of 64: a circle's areas 254 and 707 px, squares 234 and 650,
        // stars about 90 and 270: the bounding box's longer side (about 2 r) separates them for every shape
        double side = Math.max(bw / w, bh / h) * ShapesDataSet.SIZE;
        String size = side < 24 ? "small" : "large";
        return new Reading(ShapesDataSet.SHAPE_COLOURS.get(fg), shape, position, size, n, fill);
    }

    private static double sq(double v) {
        return v * v;
    }
}
