package dev.tenstep.fidelity;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.Stroke;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The log-log chart of a {@link FidelityResult}: mean latent RMSE to the reference against N, one line per
 * sampler with a bar of +-1 standard deviation (clipped at the axis), and the reference's own convergence (its
 * rms distance to the check solve) as a dashed line: differences below it are not resolved by the reference.
 */
public final class FidelityChart {
    public static final int WIDTH = 820;
    public static final int HEIGHT = 540;
    private static final Color[] COLOURS = {new Color(0xd6, 0x27, 0x28), new Color(0x1f, 0x77, 0xb4),
            new Color(0x2c, 0xa0, 0x2c), new Color(0xff, 0x7f, 0x0e), new Color(0x94, 0x67, 0xbd), new Color(0x8c, 0x56, 0x4b)};
    private static final int LEFT = 90;
    private static final int RIGHT = 30;
    private static final int TOP = 60;
    private static final int BOTTOM = 70;

    private FidelityChart() {
    }

    /** Draws the chart (RGB, {@link #WIDTH} x {@link #HEIGHT}). */
    public static BufferedImage render(FidelityResult r) {
        BufferedImage img = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, WIDTH, HEIGHT);
            draw(g, r);
        } finally {
            g.dispose();
        }
        return img;
    }

    private static void draw(Graphics2D g, FidelityResult r) {
        List<FidelityResult.Summary> sums = r.summaries();
        List<Integer> steps = r.options().steps().stream().distinct().sorted().toList();
        double check = r.checkRmsMean();
        double yLo = Double.POSITIVE_INFINITY;
        double yHi = 0;
        for (FidelityResult.Summary s : sums) {
            if (s.rmseMean() > 0) {
                yLo = Math.min(yLo, Math.max(s.rmseMin(), 1e-12));
                yHi = Math.max(yHi, s.rmseMean() + s.rmseStd());
            }
        }
        if (check > 0) {
            yLo = Math.min(yLo, check);
            yHi = Math.max(yHi, check);
        }
        if (!(yHi > 0) || !Double.isFinite(yLo)) {
            yLo = 1e-6;
            yHi = 1;
        }
        double ly0 = Math.floor(Math.log10(yLo));
        double ly1 = Math.ceil(Math.log10(yHi));
        if (ly1 <= ly0) {
            ly1 = ly0 + 1;
        }
        double lx0 = Math.log10(steps.get(0) / 1.25);
        double lx1 = Math.log10(steps.get(steps.size() - 1) * 1.25);
        int pw = WIDTH - LEFT - RIGHT;
        int ph = HEIGHT - TOP - BOTTOM;
        Axis ax = new Axis(lx0, lx1, ly0, ly1, pw, ph);

        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        g.setColor(Color.BLACK);
        g.drawString("Distance to a " + r.options().referenceSteps() + "-step reference solve", LEFT, 24);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        String sub = r.model() + ", " + r.options().prompts().size() + " prompt(s) x " + r.options().seeds().size()
                + " seeds, cfg " + fmt(r.options().guidanceScale()) + "; mean +- 1 sd";
        g.drawString(sub, LEFT, 42);

        // grid and ticks
        g.setColor(new Color(0xdd, 0xdd, 0xdd));
        for (double d = ly0; d <= ly1 + 1e-9; d++) {
            for (int m = 2; m < 10 && d < ly1; m++) {
                int y = ax.y(d + Math.log10(m));
                g.drawLine(LEFT, y, LEFT + pw, y);
            }
        }
        g.setColor(new Color(0xbb, 0xbb, 0xbb));
        for (double d = ly0; d <= ly1 + 1e-9; d++) {
            g.drawLine(LEFT, ax.y(d), LEFT + pw, ax.y(d));
        }
        for (int n : steps) {
            g.drawLine(ax.x(Math.log10(n)), TOP, ax.x(Math.log10(n)), TOP + ph);
        }
        g.setColor(Color.BLACK);
        g.drawRect(LEFT, TOP, pw, ph);
        FontMetrics fm = g.getFontMetrics();
        for (double d = ly0; d <= ly1 + 1e-9; d++) {
            String lab = "1e" + (int) d;
            g.drawString(lab, LEFT - 8 - fm.stringWidth(lab), ax.y(d) + 4);
        }
        for (int n : steps) {
            String lab = Integer.toString(n);
            g.drawString(lab, ax.x(Math.log10(n)) - fm.stringWidth(lab) / 2, TOP + ph + 18);
        }
        g.drawString("steps N (log scale)", LEFT + pw / 2 - 50, TOP + ph + 40);
        Graphics2D gr = (Graphics2D) g.create();
        gr.rotate(-Math.PI / 2);
        gr.drawString("latent RMSE to the reference (log scale)", -(TOP + ph / 2) - 120, 22);
        gr.dispose();

        // reference convergence
        List<String[]> legend = new ArrayList<>();
        List<Color> legendColours = new ArrayList<>();
        List<Boolean> dashed = new ArrayList<>();
        Stroke solid = new BasicStroke(2f);
        if (check > 0) {
            g.setColor(Color.GRAY);
            g.setStroke(new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 5f}, 0f));
            int y = ax.y(Math.log10(check));
            g.drawLine(LEFT, y, LEFT + pw, y);
            legend.add(new String[] {String.format(Locale.ROOT, "reference vs %d steps (%.1e)", r.options().checkSteps(), check)});
            legendColours.add(Color.GRAY);
            dashed.add(true);
        }
        int i = 0;
        for (SamplerSpec spec : r.options().samplers()) {
            Color c = COLOURS[i++ % COLOURS.length];
            g.setColor(c);
            g.setStroke(solid);
            int px = -1;
            int py = -1;
            for (int n : steps) {
                FidelityResult.Summary s = r.summary(spec.sampler(), spec.schedule(), n).orElse(null);
                if (s == null || !(s.rmseMean() > 0)) {
                    continue;
                }
                int x = ax.x(Math.log10(n));
                int y = ax.y(Math.log10(s.rmseMean()));
                double lo = s.rmseMean() - s.rmseStd();
                int yTop = ax.y(Math.log10(s.rmseMean() + s.rmseStd()));
                int yBot = lo > 0 ? ax.y(Math.log10(lo)) : TOP + ph;
                g.setStroke(new BasicStroke(1f));
                g.drawLine(x, Math.max(TOP, yTop), x, Math.min(TOP + ph, yBot));
                g.drawLine(x - 4, Math.max(TOP, yTop), x + 4, Math.max(TOP, yTop));
                g.setStroke(solid);
                g.fillOval(x - 4, y - 4, 9, 9);
                if (px >= 0) {
                    g.drawLine(px, py, x, y);
                }
                px = x;
                py = y;
            }
            legend.add(new String[] {spec.label()});
            legendColours.add(c);
            dashed.add(false);
        }
        // legend, top right inside the plot
        int lw = 0;
        for (String[] l : legend) {
            lw = Math.max(lw, fm.stringWidth(l[0]));
        }
        int lx = LEFT + pw - lw - 52;
        int ly = TOP + 10;
        g.setColor(new Color(255, 255, 255, 230));
        g.fillRect(lx - 6, ly - 4, lw + 52, legend.size() * 18 + 8);
        g.setColor(Color.LIGHT_GRAY);
        g.setStroke(new BasicStroke(1f));
        g.drawRect(lx - 6, ly - 4, lw + 52, legend.size() * 18 + 8);
        for (int k = 0; k < legend.size(); k++) {
            int y = ly + 10 + k * 18;
            g.setColor(legendColours.get(k));
            g.setStroke(dashed.get(k)
                    ? new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 5f}, 0f)
                    : solid);
            g.drawLine(lx, y - 4, lx + 30, y - 4);
            g.setColor(Color.BLACK);
            g.drawString(legend.get(k)[0], lx + 38, y);
        }
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }

    private record Axis(double lx0, double lx1, double ly0, double ly1, int pw, int ph) {
        int x(double lx) {
            return LEFT + (int) Math.round((lx - lx0) / (lx1 - lx0) * pw);
        }

        int y(double ly) {
            return TOP + (int) Math.round((ly1 - ly) / (ly1 - ly0) * ph);
        }
    }
}
