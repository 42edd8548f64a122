package dev.tenstep.web;

import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.util.List;

/**
 * Composes finished images into one labelled table (rows = sampler/schedule, columns = steps),
 * drawn with java.awt: the paper's table as a picture. Missing cells are left grey.
 */
final class GridImage {
    private static final int PAD = 8;
    private static final int HEADER = 28;
    private static final int LABEL = 150;

    private GridImage() {
    }

    /**
     * @param cells     row-major, {@code rows * colLabels.size()} entries (null = not available)
     * @param rowLabels one per row
     * @param colLabels one per column
     * @param title     drawn above the table (e.g. the prompt and seed)
     */
    static BufferedImage compose(List<BufferedImage> cells, List<String> rowLabels, List<String> colLabels, String title) {
        int rows = rowLabels.size();
        int cols = colLabels.size();
        int cw = 64;
        int ch = 64;
        for (BufferedImage c : cells) {
            if (c != null) {
                cw = Math.max(cw, c.getWidth());
                ch = Math.max(ch, c.getHeight());
            }
        }
        int width = LABEL + cols * (cw + PAD) + PAD;
        int height = 2 * HEADER + rows * (ch + PAD) + PAD;
        BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
            FontMetrics fm = g.getFontMetrics();
            g.setColor(Color.DARK_GRAY);
            g.drawString(fit(title, fm, width - 2 * PAD), PAD, HEADER - 10);
            for (int c = 0; c < cols; c++) {
                int x = LABEL + PAD + c * (cw + PAD);
                g.setColor(Color.BLACK);
                g.drawString(fit(colLabels.get(c), fm, cw), x, 2 * HEADER - 10);
            }
            for (int r = 0; r < rows; r++) {
                int y = 2 * HEADER + PAD + r * (ch + PAD);
                g.setColor(Color.BLACK);
                g.drawString(fit(rowLabels.get(r), fm, LABEL - PAD), PAD, y + ch / 2);
                for (int c = 0; c < cols; c++) {
                    int x = LABEL + PAD + c * (cw + PAD);
                    int i = r * cols + c;
                    BufferedImage img = i < cells.size() ? cells.get(i) : null;
                    if (img == null) {
                        g.setColor(Color.LIGHT_GRAY);
                        g.fillRect(x, y, cw, ch);
                    } else {
                        g.drawImage(img, x, y, cw, ch, null);
                    }
                }
            }
        } finally {
            g.dispose();
        }
        return out;
    }

    private static String fit(String s, FontMetrics fm, int width) {
        if (fm.stringWidth(s) <= width) {
            return s;
        }
        String t = s;
        while (!t.isEmpty() && fm.stringWidth(t + "...") > width) {
            t = t.substring(0, t.length() - 1);
        }
        return t + "...";
    }
}
