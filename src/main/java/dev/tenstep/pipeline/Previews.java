package dev.tenstep.pipeline;

import java.awt.image.BufferedImage;

/**
 * Cheap step previews: a linear map from the 4 latent channels to RGB, no VAE. The factors are the
 * least-squares fit for the SD 1.x/2.x VAE popularised by A1111's "Approx cheap" preview; the
 * result is approximate (and meaningless for random weights), and labelled as such in the UI.
 */
public final class Previews {
    /** [latent channel][r, g, b] */
    private static final float[][] LATENT_RGB = {
            {0.3512f, 0.2297f, 0.3227f},
            {0.3250f, 0.4974f, 0.2350f},
            {-0.2829f, 0.1762f, 0.2721f},
            {-0.2120f, -0.2616f, -0.7177f},
    };

    private Previews() {
    }

    /**
     * @param latent row-major [1, 4, h, w] clean latent at pipeline scale (e.g. x0-hat)
     * @return an h x w RGB image (one pixel per latent pixel; scale up for display)
     */
    public static BufferedImage approximate(float[] latent, int h, int w) {
        int plane = h * w;
        int channels = Math.min(4, latent.length / plane);
        float[] chw = new float[3 * plane];
        for (int c = 0; c < channels; c++) {
            for (int i = 0; i < plane; i++) {
                float v = latent[c * plane + i];
                chw[i] += v * LATENT_RGB[c][0];
                chw[plane + i] += v * LATENT_RGB[c][1];
                chw[2 * plane + i] += v * LATENT_RGB[c][2];
            }
        }
        return Images.toImage(chw, h, w);
    }
}
