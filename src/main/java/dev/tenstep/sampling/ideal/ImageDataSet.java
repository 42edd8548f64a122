package dev.tenstep.sampling.ideal;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * A finite set of captioned images y_1..y_M, each C x H x W in [-1, 1] (row-major CHW), the data of an
 * {@link IdealDenoiser}.
 *
 * <p>Caption matching ({@link #subset}): a text selects the images whose caption contains every word of the
 * text, case-insensitively, where words are runs of letters and digits and the articles {@code a},
 * {@code an}, {@code the} are ignored (so "a red circle" matches a caption "red circle, top left").
 * An empty text selects every image. Immutable and thread-safe.
 */
public final class ImageDataSet {
    private static final Pattern NON_WORD = Pattern.compile("[^\\p{L}\\p{Nd}]+");
    private static final Set<String> IGNORED = Set.of("a", "an", "the");

    private final String name;
    private final int channels;
    private final int height;
    private final int width;
    private final float[][] images;
    private final double[] squaredNorms;
    private final List<String> captions;
    private final List<Set<String>> captionWords;

    /**
     * @param name     the set's name, e.g. {@code shapes}
     * @param channels C (3 for RGB)
     * @param height   H in pixels
     * @param width    W in pixels
     * @param images   M images, each C*H*W values in [-1, 1], row-major CHW (copied)
     * @param captions M captions
     * @throws IllegalArgumentException if the set is empty, sizes differ or a value is outside [-1, 1]
     */
    public ImageDataSet(String name, int channels, int height, int width, List<float[]> images, List<String> captions) {
        this.name = Objects.requireNonNull(name, "name");
        if (channels < 1 || height < 1 || width < 1) {
            throw new IllegalArgumentException("image size must be positive, got " + channels + "x" + height + "x" + width);
        }
        if (images.isEmpty()) {
            throw new IllegalArgumentException("data set '" + name + "' has no images");
        }
        if (images.size() != captions.size()) {
            throw new IllegalArgumentException("data set '" + name + "' has " + images.size() + " images but "
                    + captions.size() + " captions");
        }
        this.channels = channels;
        this.height = height;
        this.width = width;
        int d = channels * height * width;
        this.images = new float[images.size()][];
        List<Set<String>> words = new ArrayList<>();
        for (int i = 0; i < images.size(); i++) {
            float[] y = images.get(i);
            if (y.length != d) {
                throw new IllegalArgumentException("image " + i + " of '" + name + "' has " + y.length
                        + " values, expected " + channels + "x" + height + "x" + width + " = " + d);
            }
            for (float v : y) {
                if (!(v >= -1f && v <= 1f)) {
                    throw new IllegalArgumentException("image " + i + " of '" + name + "' has a value " + v
                            + " outside [-1, 1]");
                }
            }
            this.images[i] = y.clone();
            words.add(words(captions.get(i)));
        }
        this.captions = List.copyOf(captions);
        this.captionWords = List.copyOf(words);
        this.squaredNorms = new double[this.images.length];
        for (int i = 0; i < this.images.length; i++) {
            double s = 0;
            for (float v : this.images[i]) {
                s += (double) v * v;
            }
            squaredNorms[i] = s;
        }
    }

    /** The words a text is matched by: lower-case runs of letters and digits, articles dropped, in order. */
    public static Set<String> words(String text) {
        Set<String> out = new java.util.LinkedHashSet<>();
        if (text == null) {
            return out;
        }
        for (String w : NON_WORD.split(text.toLowerCase(Locale.ROOT))) {
            if (!w.isEmpty() && !IGNORED.contains(w)) {
                out.add(w);
            }
        }
        return out;
    }

    public String name() {
        return name;
    }

    public int channels() {
        return channels;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    /** D = C * H * W, the dimension of one image. */
    public int dimension() {
        return channels * height * width;
    }

    /** M, the number of images. */
    public int size() {
        return images.length;
    }

    /** Image i (a copy), C*H*W values in [-1, 1]. */
    public float[] image(int i) {
        return images[i].clone();
    }

    /** Image i without copying; callers must not modify it. */
    float[] imageRef(int i) {
        return images[i];
    }

    /** |y_i|^2, accumulated in double. */
    double squaredNorm(int i) {
        return squaredNorms[i];
    }

    public String caption(int i) {
        return captions.get(i);
    }

    public List<String> captions() {
        return captions;
    }

    /** Every word of every caption (matching form), sorted. */
    public Set<String> knownWords() {
        Set<String> all = new TreeSet<>();
        captionWords.forEach(all::addAll);
        return all;
    }

    /**
     * The indices of the images whose caption contains every word of {@code text} (see the class comment);
     * all indices for an empty text.
     *
     * @param text  a prompt or negative prompt
     * @param label what the text is, for the error ("prompt", "negative prompt")
     * @throws IllegalArgumentException if no image matches, naming the unknown words and listing the known ones
     */
    public int[] subset(String text, String label) {
        Set<String> want = words(text);
        int[] out = new int[images.length];
        int n = 0;
        for (int i = 0; i < images.length; i++) {
            if (captionWords.get(i).containsAll(want)) {
                out[n++] = i;
            }
        }
        if (n == 0) {
            Set<String> known = knownWords();
            List<String> unknown = want.stream().filter(w -> !known.contains(w)).toList();
            String why = unknown.isEmpty()
                    ? "no caption has all of the words " + want
                    : "unknown word" + (unknown.size() == 1 ? " " : "s ") + String.join(", ", unknown);
            throw new IllegalArgumentException("no image of the data set '" + name + "' matches the " + label + " \""
                    + text + "\" (" + why + "); known words: " + String.join(", ", known));
        }
        return Arrays.copyOf(out, n);
    }

    @Override
    public String toString() {
        return "ImageDataSet[" + name + ", " + images.length + " images " + channels + "x" + height + "x" + width + "]";
    }
}
