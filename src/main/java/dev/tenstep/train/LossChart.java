package dev.tenstep.train;


import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The loss curves of a run as a PNG: one panel per stage (VAE reconstruction + KL; UNet epsilon MSE, weighted;
 * decoder L1),
 * each step's loss in grey and its exponential moving average (0.98 on long runs) in colour, log-scaled loss
 * axis, steps on the horizontal axis.
 */
public final class LossChart {
    private static final int PANEL_W = 560;
    private static final int H = 360;

    private LossChart() {
    }

    /** Writes the chart of the three stages' losses (any may be empty) to {@code file}. */
    public static void write(Path file, List<Float> stage1, List<Float> stage2, List<Float> stage3) throws IOException {
        BufferedImage img = new BufferedImage(3 * PANEL_W, H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, img.getWidth(), H);
        panel(g, 0, "stage 1: VAE (L1 + KL)", stage1, new Color(40, 80, 210));
        panel(g, PANEL_W, "stage 2: UNet + text encoder (weighted eps MSE)", stage2, new Color(220, 40, 40));
        panel(g, 2 * PANEL_W, "stage 3: VAE decoder (L1 of the mean)", stage3, new Color(30, 150, 60));
        g.dispose();
        java.io.ByteArrayOutputStream png = new java.io.ByteArrayOutputStream();
        javax.imageio.ImageIO.write(img, "png", png);
        dev.tenstep.io.AtomicFiles.write(file, png.toByteArray());
    }

    private static void panel(Graphics2D g, int x0, String title, List<Float> losses, Color colour) {
        int left = x0 + 60;
        int right = x0 + PANEL_W - 20;
        int top = 40;
        int bottom = H - 40;
        g.setColor(Color.BLACK);
        g.setStroke(new BasicStroke(1f));
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        g.drawString(title + (losses.isEmpty() ? " (no steps)" : ", " + losses.size() + " steps"), left, 24);
        g.drawRect(left, top, right - left, bottom - top);
        if (losses.isEmpty()) {
            return;
        }
        double lo = Double.MAX_VALUE;
        double hi = -Double.MAX_VALUE;
        for (float l : losses) {
            if (l > 0 && Float.isFinite(l)) {
                lo = Math.min(lo, Math.log10(l));
                hi = Math.max(hi, Math.log10(l));
            }
        }
        if (lo > hi) {
            return;
        }
        if (hi - lo < 1e-3) {
            hi = lo + 1;
        }
        g.drawString(String.format(Locale.ROOT, "%.3g", Math.pow(10, hi)), x0 + 4, top + 10);
        g.drawString(String.format(Locale.ROOT, "%.3g", Math.pow(10, lo)), x0 + 4, bottom);
        g.drawString("0", left, bottom + 16);
        g.drawString(Integer.toString(losses.size()), right - 30, bottom + 16);
        int n = losses.size();
        // about 20 steps' worth of smoothing on long runs, less on short ones
        double keep = Math.min(0.98, Math.max(0.0, 1 - 20.0 / n));
        double ema = losses.get(0);
        int px = -1;
        int py = -1;
        for (int i = 0; i < n; i++) {
            float l = losses.get(i);
            int x = left + (int) Math.round((right - left) * (n == 1 ? 0.5 : i / (double) (n - 1)));
            if (l > 0 && Float.isFinite(l)) {
                int y = yOf(Math.log10(l), lo, hi, top, bottom);
                g.setColor(new Color(170, 170, 170));
                g.fillRect(x - 1, y - 1, 2, 2);
                ema = keep * ema + (1 - keep) * l;
            }
            int ey = yOf(Math.log10(Math.max(ema, 1e-12)), lo, hi, top, bottom);
            if (px >= 0) {
                g.setColor(colour);
                g.setStroke(new BasicStroke(2f));
                g.drawLine(px, py, x, ey);
            }
            px = x;
            py = ey;
        }
    }

    private static int yOf(double v, double lo, double hi, int top, int bottom) {
        return bottom - (int) Math.round((bottom - top) * (v - lo) / (hi - lo));
    }
}
