package dev.tenstep.fidelity;

import dev.tenstep.pipeline.Images;
import dev.tenstep.sampling.ideal.ImageDataSet;
import dev.tenstep.sampling.ideal.ShapesDataSet;
import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ShapeAnalyserTest {

    @Test
    void readsEveryPictureOfTheDataSetExactly() {
        ImageDataSet d = ShapesDataSet.get();
        assertEquals(240, d.size());
        for (int i = 0; i < d.size(); i++) {
            String caption = d.caption(i);
            ShapeAnalyser.Target t = ShapeAnalyser.target(caption).orElseThrow();
            ShapeAnalyser.Reading r = ShapeAnalyser.read(Images.toImage(d.image(i), d.height(), d.width()));
            assertEquals(t.colour(), r.colour(), caption);
            assertEquals(t.shape(), r.shape(), caption + " fill " + r.fill());
            assertEquals(t.position(), r.position(), caption);
            assertEquals(t.size(), r.size(), caption);
            assertTrue(t.matches(r), caption);
        }
    }

    @Test
    void promptsAreParsedAlongTheGrammar() {
        ShapeAnalyser.Target t = ShapeAnalyser.target("A large Blue star on a navy background, top left").orElseThrow();
        assertEquals(new ShapeAnalyser.Target("blue", "star", "top left", "large"), t);
        assertEquals(new ShapeAnalyser.Target("red", "circle", null, null), ShapeAnalyser.target("a red circle").orElseThrow());
        assertFalse(ShapeAnalyser.target("a lighthouse at dusk").isPresent());
        assertFalse(ShapeAnalyser.target("a navy square").isPresent(), "navy is a background colour");
    }

    @Test
    void aPlainBackgroundHasNoForeground() {
        BufferedImage img = new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB);
        int[] teal = ShapesDataSet.PALETTE.get("teal");
        for (int y = 0; y < 64; y++) {
            for (int x = 0; x < 64; x++) {
                img.setRGB(x, y, (teal[0] << 16) | (teal[1] << 8) | teal[2]);
            }
        }
        ShapeAnalyser.Reading r = ShapeAnalyser.read(img);
        assertNull(r.colour());
        assertFalse(new ShapeAnalyser.Target("red", "circle", null, null).matches(r));
    }
}
