package dev.tenstep.sampling.ideal;

import java.awt.geom.Path2D;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The built-in data set {@code shapes}: 240 captioned 64 x 64 RGB pictures of a coloured shape on a plain or
 * gradient background, generated deterministically (no files, no randomness beyond a fixed seed):
 * every combination of 4 shapes ({@link #SHAPES}) x 6 colours ({@link #SHAPE_COLOURS}) x 5 positions
 * ({@link #POSITIONS}) x 2 sizes, with a background colour, a plain or vertical-gradient background and a
 * jitter of up to 3 pixels drawn from a {@link SplittableRandom} seeded by {@link #SEED}. Background colours
 * have names of their own ({@link #BACKGROUND_COLOURS}), so a colour word in a prompt names the shape's colour
 * under the word-set matching of {@link ImageDataSet#subset}.
 * Captions read like "a small red circle on a blue background, top left" or "a large green star on a gray
 * gradient background, center".
 *
 * <p>Pixels are 8-bit colours mapped to [-1, 1] by {@code v / 127.5 - 1}; shapes are drawn without
 * anti-aliasing (a pixel belongs to the shape when its centre does), so every pixel of a shape or a plain
 * background is exactly one palette colour. Coverage is decided by closed-form tests and
 * {@link Path2D#contains(double, double)}, both pure double arithmetic, so the set is the same on every JVM.
 */
public final class ShapesDataSet {
    /** The set's name, as in {@code --model ideal:shapes}. */
    public static final String NAME = "shapes";
    public static final int SIZE = 64;
    public static final long SEED = 20240612L;
    public static final List<String> SHAPES = List.of("circle", "square", "triangle", "star");
    public static final List<String> SHAPE_COLOURS = List.of("red", "green", "blue", "yellow", "purple", "orange");
    public static final List<String> BACKGROUND_COLOURS = List.of("black", "white", "gray", "navy", "teal", "pink", "beige");
    public static final List<String> POSITIONS = List.of("top left", "top right", "bottom left", "bottom right", "center");
    /** The 8-bit RGB of every colour name used. */
    public static final Map<String, int[]> PALETTE = Map.ofEntries(
            Map.entry("red", new int[] {220, 40, 40}),
            Map.entry("green", new int[] {40, 170, 70}),
            Map.entry("blue", new int[] {40, 80, 210}),
            Map.entry("yellow", new int[] {240, 210, 40}),
            Map.entry("purple", new int[] {140, 60, 180}),
            Map.entry("orange", new int[] {245, 140, 30}),
            Map.entry("black", new int[] {15, 15, 15}),
            Map.entry("white", new int[] {245, 245, 245}),
            Map.entry("gray", new int[] {128, 128, 128}),
            Map.entry("navy", new int[] {25, 35, 95}),
            Map.entry("teal", new int[] {30, 128, 128}),
            Map.entry("pink", new int[] {240, 165, 195}),
            Map.entry("beige", new int[] {225, 210, 170}));

    private static final double[][] CENTRES = {{18, 18}, {46, 18}, {18, 46}, {46, 46}, {32, 32}};
    private static final double[] RADII = {9, 15};
    private static final String[] SIZES = {"small", "large"};

    private static volatile ImageDataSet instance;

    private ShapesDataSet() {
    }

    /** The data set (built once, about 12 MB). */
    public static ImageDataSet get() {
        ImageDataSet d = instance;
        if (d == null) {
            synchronized (ShapesDataSet.class) {
                d = instance;
                if (d == null) {
                    d = build();
                    instance = d;
                }
            }
        }
        return d;
    }

    static ImageDataSet build() {
        SplittableRandom rnd = new SplittableRandom(SEED);
        List<float[]> images = new ArrayList<>();
        List<String> captions = new ArrayList<>();
        for (String shape : SHAPES) {
            for (String colour : SHAPE_COLOURS) {
                for (int p = 0; p < POSITIONS.size(); p++) {
                    for (int s = 0; s < SIZES.length; s++) {
                        String bg = BACKGROUND_COLOURS.get(rnd.nextInt(BACKGROUND_COLOURS.size()));
                        boolean gradient = !bg.equals("black") && rnd.nextInt(3) == 0;
                        double cx = CENTRES[p][0] + rnd.nextInt(7) - 3;
                        double cy = CENTRES[p][1] + rnd.nextInt(7) - 3;
                        images.add(render(shape, PALETTE.get(colour), PALETTE.get(bg), gradient, cx, cy, RADII[s]));
                        captions.add("a " + SIZES[s] + " " + colour + " " + shape + " on a " + bg
                                + (gradient ? " gradient" : "") + " background, " + POSITIONS.get(p));
                    }
                }
            }
        }
        return new ImageDataSet(NAME, 3, SIZE, SIZE, images, captions);
    }

    /**
     * One picture, [3, 64, 64] row-major in [-1, 1]. A gradient background runs from {@code bg} at the top row
     * to black at the bottom row.
     */
    static float[] render(String shape, int[] fg, int[] bg, boolean gradient, double cx, double cy, double r) {
        Path2D polygon = switch (shape) {
            case "triangle" -> polygon(new double[] {cx, cx + 0.95 * r, cx - 0.95 * r},
                    new double[] {cy - r, cy + 0.8 * r, cy + 0.8 * r});
            case "star" -> star(cx, cy, r, 0.45 * r);
            default -> null;
        };
        int[] black = PALETTE.get("black");
        int plane = SIZE * SIZE;
        float[] out = new float[3 * plane];
        for (int y = 0; y < SIZE; y++) {
            double t = y / (double) (SIZE - 1);
            for (int x = 0; x < SIZE; x++) {
                double px = x + 0.5;
                double py = y + 0.5;
                double dx = px - cx;
                double dy = py - cy;
                boolean inside = switch (shape) {
                    case "circle" -> dx * dx + dy * dy <= r * r;
                    case "square" -> Math.abs(dx) <= 0.85 * r && Math.abs(dy) <= 0.85 * r;
                    default -> polygon.contains(px, py);
                };
                for (int c = 0; c < 3; c++) {
                    int v;
                    if (inside) {
                        v = fg[c];
                    } else if (gradient) {
                        v = (int) Math.round(bg[c] + t * (black[c] - bg[c]));
                    } else {
                        v = bg[c];
                    }
                    out[c * plane + y * SIZE + x] = (float) (v / 127.5 - 1.0);
                }
            }
        }
        return out;
    }

    private static Path2D polygon(double[] xs, double[] ys) {
        Path2D.Double p = new Path2D.Double();
        p.moveTo(xs[0], ys[0]);
        for (int i = 1; i < xs.length; i++) {
            p.lineTo(xs[i], ys[i]);
        }
        p.closePath();
        return p;
    }

    /** A five-pointed star, one point straight up. */
    private static Path2D star(double cx, double cy, double outer, double inner) {
        double[] xs = new double[10];
        double[] ys = new double[10];
        for (int k = 0; k < 10; k++) {
            double a = -Math.PI / 2 + k * Math.PI / 5;
            double rr = k % 2 == 0 ? outer : inner;
            xs[k] = cx + rr * StrictMath.cos(a);
            ys[k] = cy + rr * StrictMath.sin(a);
        }
        return polygon(xs, ys);
    }
}
