package dev.tenstep.sampling.ideal;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Loads a captioned image folder as an {@link ImageDataSet} (the layout LoRA training sets use): every
 * {@code NAME.png} with a caption file {@code NAME.txt} beside it (UTF-8, surrounding whitespace dropped).
 * All images must have the same width and height; colours are read as 8-bit RGB (alpha ignored) and mapped to
 * [-1, 1] by {@code v / 127.5 - 1}. Files are taken in name order.
 */
public final class ImageFolder {
    /** Upper bound on M * C * H * W (floats held in memory: 1 GiB). */
    public static final long MAX_VALUES = 1L << 28;

    private ImageFolder() {
    }

    /**
     * @param dir the folder
     * @return the data set, named after the folder
     * @throws IllegalArgumentException naming the problem: not a folder, no PNG, a PNG without its .txt
     *                                  caption, an unreadable image, mixed sizes, too large a set
     * @throws IOException              if the folder cannot be listed or a file read
     */
    public static ImageDataSet load(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("image folder not found: " + dir);
        }
        List<Path> pngs;
        try (Stream<Path> s = Files.list(dir)) {
            pngs = s.filter(p -> p.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".png"))
                    .filter(Files::isRegularFile).sorted().toList();
        }
        if (pngs.isEmpty()) {
            throw new IllegalArgumentException(dir + " has no .png images (expected NAME.png with a caption NAME.txt)");
        }
        List<String> missing = new ArrayList<>();
        for (Path p : pngs) {
            if (!Files.isRegularFile(captionFile(p))) {
                missing.add(captionFile(p).getFileName().toString());
            }
        }
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException(dir + ": " + missing.size() + " image(s) have no caption file: "
                    + String.join(", ", missing.subList(0, Math.min(10, missing.size())))
                    + (missing.size() > 10 ? ", ..." : ""));
        }
        List<float[]> images = new ArrayList<>();
        List<String> captions = new ArrayList<>();
        int w = -1;
        int h = -1;
        for (Path p : pngs) {
            BufferedImage img = ImageIO.read(p.toFile());
            if (img == null) {
                throw new IllegalArgumentException(p + " is not a readable PNG image");
            }
            if (w < 0) {
                w = img.getWidth();
                h = img.getHeight();
                if ((long) pngs.size() * 3 * w * h > MAX_VALUES) {
                    throw new IllegalArgumentException(dir + ": " + pngs.size() + " images of " + w + "x" + h
                            + " are too many values to hold (limit " + MAX_VALUES + " floats)");
                }
            } else if (img.getWidth() != w || img.getHeight() != h) {
                throw new IllegalArgumentException(p + " is " + img.getWidth() + "x" + img.getHeight()
                        + " but the first image is " + w + "x" + h + "; all images must have the same size");
            }
            images.add(toChw(img));
            captions.add(Files.readString(captionFile(p), StandardCharsets.UTF_8).strip());
        }
        return new ImageDataSet(dir.toAbsolutePath().normalize().getFileName().toString(), 3, h, w, images, captions);
    }

    private static Path captionFile(Path png) {
        String n = png.getFileName().toString();
        return png.resolveSibling(n.substring(0, n.length() - 4) + ".txt");
    }

    /** An image's RGB as [3, H, W] row-major in [-1, 1]. */
    static float[] toChw(BufferedImage img) {
        int w = img.getWidth();
        int h = img.getHeight();
        int plane = w * h;
        int[] rgb = img.getRGB(0, 0, w, h, null, 0, w);
        float[] out = new float[3 * plane];
        for (int i = 0; i < plane; i++) {
            out[i] = (float) (((rgb[i] >> 16) & 0xff) / 127.5 - 1.0);
            out[plane + i] = (float) (((rgb[i] >> 8) & 0xff) / 127.5 - 1.0);
            out[2 * plane + i] = (float) ((rgb[i] & 0xff) / 127.5 - 1.0);
        }
        return out;
    }
}
