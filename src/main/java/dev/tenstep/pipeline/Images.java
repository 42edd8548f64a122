package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;

import java.awt.image.BufferedImage;

/** Conversions between decoder outputs and 8-bit RGB images. */
public final class Images {
    private Images() {
    }

    /**
     * A decoder output [1, 3, H, W] (nominal range [-1, 1]) to RGB pixels
     * {@code round(clamp((x + 1) / 2, 0, 1) * 255)} (round half to even, as numpy).
     */
    public static BufferedImage toImage(NDArray image) {
        long[] s = image.getShape().getShape();
        if (s.length != 4 || s[0] != 1 || s[1] != 3) {
            throw new IllegalArgumentException("expected an image [1, 3, H, W], got " + image.getShape());
        }
        return toImage(image.toFloatArray(), (int) s[2], (int) s[3]);
    }

    /** Row-major CHW floats in [-1, 1] to an RGB image. */
    public static BufferedImage toImage(float[] chw, int height, int width) {
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        int plane = width * height;
        int[] rgb = new int[plane];
        for (int i = 0; i < plane; i++) {
            rgb[i] = (to8bit(chw[i]) << 16) | (to8bit(chw[plane + i]) << 8) | to8bit(chw[2 * plane + i]);
        }
        img.setRGB(0, 0, width, height, rgb, 0, width);
        return img;
    }

    /** One channel value in [-1, 1] to 0..255. */
    public static int to8bit(float x) {
        double v = (x + 1.0) / 2.0;
        v = v < 0 ? 0 : (v > 1 ? 1 : v);
        return (int) Math.rint(v * 255.0);
    }
}
