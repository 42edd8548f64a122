package dev.tenstep.pipeline;

import dev.tenstep.io.Hashes;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Base64;
import java.util.Objects;

/**
 * The init image of an img2img request, decoded once at the edge (a file, a base64 upload) to 8-bit RGB planes.
 * A transparent image is flattened onto white as AUTOMATIC1111 does ({@code images.flatten} with its default
 * {@code img2img_background_color} #ffffff, Pillow's {@code paste} with the alpha as mask); a grey image is
 * replicated to RGB from its stored values (Pillow's {@code convert('RGB')}), not through Java's linear-grey
 * colour conversion.
 *
 * @param width  pixels
 * @param height pixels
 * @param rgb    the R, G and B planes, each {@code width * height} row-major values 0..255 (not copied)
 * @param sha256 SHA-256 of the encoded bytes as given (hex), recorded so that a batch resume notices another image
 * @param name   the file name, or null (an upload)
 */
public record InitImage(int width, int height, int[][] rgb, String sha256, String name) {

    public InitImage {
        Objects.requireNonNull(rgb, "rgb");
        Objects.requireNonNull(sha256, "sha256");
        if (width < 1 || height < 1 || rgb.length != 3 || rgb[0].length != width * height) {
            throw new IllegalArgumentException("an init image needs 3 planes of " + width + " x " + height + " values");
        }
    }

    /**
     * Reads an image file (PNG, JPEG, BMP, GIF: what {@link ImageIO} reads).
     *
     * @throws IOException naming the file when it is missing or no image
     */
    public static InitImage read(Path file) throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new IOException(file + ": no such file");
        }
        try {
            return decode(bytes, file.getFileName().toString());
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage());
        }
    }

    /**
     * Decodes A1111's base64 image field: plain base64, or a data URL ({@code data:image/png;base64,...}), as
     * A1111's {@code decode_base64_to_image} takes it.
     *
     * @throws IllegalArgumentException when it is not base64 or not an image
     */
    public static InitImage fromBase64(String text) {
        String t = text.strip();
        if (t.startsWith("data:")) {
            int comma = t.indexOf(',');
            if (comma < 0 || !t.substring(0, comma).endsWith(";base64")) {
                throw new IllegalArgumentException("is a data URL without ';base64,'");
            }
            t = t.substring(comma + 1);
        }
        byte[] bytes;
        try {
            // line breaks and spaces (as some clients wrap base64) are dropped; any other stray character is an error
            bytes = Base64.getDecoder().decode(t.replaceAll("\\s", ""));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("is not base64 (" + e.getMessage() + ")");
        }
        return decode(bytes, null);
    }

    /**
     * Decodes encoded image bytes.
     *
     * @throws IllegalArgumentException when they are no image ImageIO reads
     */
    public static InitImage decode(byte[] bytes, String name) {
        BufferedImage img;
        try {
            img = ImageIO.read(new ByteArrayInputStream(bytes));
        } catch (IOException | RuntimeException e) {
            throw new IllegalArgumentException("is not a readable image (" + e.getMessage() + ")");
        }
        if (img == null) {
            throw new IllegalArgumentException("is not an image this server reads (PNG, JPEG, BMP, GIF), "
                    + bytes.length + " bytes");
        }
        return of(img, Hashes.sha256(bytes), name);
    }

    /** An image in memory (e.g. a test's), its {@code sha256} given by the caller. */
    public static InitImage of(BufferedImage img, String sha256, String name) {
        int w = img.getWidth();
        int h = img.getHeight();
        int[][] rgb = new int[3][w * h];
        int[] alpha = null;
        ColorModel cm = img.getColorModel();
        if (cm.getColorSpace().getType() == java.awt.color.ColorSpace.TYPE_GRAY) {
            Raster r = img.getRaster();
            int bits = cm.getComponentSize(0);
            boolean hasAlpha = cm.hasAlpha() && r.getNumBands() > 1;
            alpha = hasAlpha ? new int[w * h] : null;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int v = to8(r.getSample(x, y, 0), bits);
                    int i = y * w + x;
                    rgb[0][i] = v;
                    rgb[1][i] = v;
                    rgb[2][i] = v;
                    if (hasAlpha) {
                        alpha[i] = to8(r.getSample(x, y, 1), cm.getComponentSize(1));
                    }
                }
            }
        } else {
            boolean hasAlpha = cm.hasAlpha();
            alpha = hasAlpha ? new int[w * h] : null;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int argb = img.getRGB(x, y);
                    int i = y * w + x;
                    rgb[0][i] = (argb >> 16) & 255;
                    rgb[1][i] = (argb >> 8) & 255;
                    rgb[2][i] = argb & 255;
                    if (hasAlpha) {
                        alpha[i] = (argb >>> 24) & 255;
                    }
                }
            }
        }
        if (alpha != null) {
            flattenOnWhite(rgb, alpha);
        }
        return new InitImage(w, h, rgb, sha256, name);
    }

    private static int to8(int v, int bits) {
        return bits == 8 ? v : (int) Math.round(v * 255.0 / ((1 << bits) - 1));
    }

    /** Pillow's {@code paste(img, mask=img)} onto white: {@code BLEND(a, 255, c)}, with its {@code DIV255} rounding. */
    private static void flattenOnWhite(int[][] rgb, int[] alpha) {
        for (int[] plane : rgb) {
            for (int i = 0; i < plane.length; i++) {
                int a = alpha[i];
                int tmp = 255 * (255 - a) + plane[i] * a + 128;
                plane[i] = ((tmp >> 8) + tmp) >> 8;
            }
        }
    }

    /**
     * The image as the VAE encoder takes it after A1111's "Just resize" ({@code resize_mode} 0: Lanczos to exactly
     * {@code w x h}, no crop, {@link ImageResize}): NCHW [1, 3, h, w] row-major float32 {@code 2 * (p / 255) - 1}
     * (diffusers' {@code VaeImageProcessor.preprocess}, A1111's {@code images_tensor_to_samples}: the same values,
     * computed in float32 as numpy does).
     */
    public float[] tensor(int w, int h) {
        int[][] planes = ImageResize.lanczos(rgb, width, height, w, h);
        float[] out = new float[3 * w * h];
        for (int c = 0; c < 3; c++) {
            for (int i = 0; i < w * h; i++) {
                float v = planes[c][i] / 255.0f;
                out[c * w * h + i] = 2.0f * v - 1.0f;
            }
        }
        return out;
    }

    /** {@code WxH}, e.g. {@code 64x64}. */
    public String size() {
        return width + "x" + height;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof InitImage i && i.sha256.equals(sha256) && i.width == width && i.height == height
                && Objects.equals(i.name, name);
    }

    @Override
    public int hashCode() {
        return sha256.hashCode();
    }

    @Override
    public String toString() {
        return "InitImage[" + (name != null ? name + ", " : "") + size() + ", sha256 " + sha256.substring(0, 10) + "]";
    }
}
