package dev.tenstep.sampling.ideal;

import dev.tenstep.pipeline.Images;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ShapesDataSetTest {
    /** SHA-256 of every image's float32 bits (big-endian) in order, then every caption in UTF-8. */
    static final String PINNED_SHA256 = "80c0a05a972a83079609178cf09c1379f271b88305ea04fd6518d07a8d6a6733";

    static String digest(ImageDataSet d) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        for (int i = 0; i < d.size(); i++) {
            float[] y = d.image(i);
            ByteBuffer b = ByteBuffer.allocate(4 * y.length);
            b.asFloatBuffer().put(y);
            md.update(b);
        }
        for (String c : d.captions()) {
            md.update(c.getBytes(StandardCharsets.UTF_8));
        }
        return HexFormat.of().formatHex(md.digest());
    }

    @Test
    void deterministicSetWithCaptionsAndPaletteColours() throws Exception {
        ImageDataSet d = ShapesDataSet.get();
        assertEquals(240, d.size());
        assertEquals(3, d.channels());
        assertEquals(64, d.height());
        assertEquals(64, d.width());
        assertEquals(digest(ShapesDataSet.build()), digest(d));
        assertEquals(PINNED_SHA256, digest(d));
        System.out.println("[shapes] " + d.caption(0) + " | " + d.caption(1) + " | " + d.caption(239));
        assertTrue(d.caption(0).startsWith("a small red circle on a "), d.caption(0));
        assertTrue(d.caption(0).endsWith(" background, top left"), d.caption(0));
        assertTrue(d.caption(239).startsWith("a large orange star on a "), d.caption(239));
        assertTrue(d.caption(239).endsWith(", center"), d.caption(239));
        // every red circle: 5 positions x 2 sizes; and its centre pixel is exactly the palette red
        int[] red = d.subset("a red circle", "prompt");
        assertEquals(10, red.length);
        BufferedImage img = Images.toImage(d.image(red[0]), 64, 64);
        assertEquals(0xdc2828, img.getRGB(18, 18) & 0xffffff, "centre of a small red circle at top left (+-3 px)");
        assertTrue(d.knownWords().containsAll(java.util.List.of("circle", "square", "triangle", "star", "gradient",
                "purple", "orange", "top", "bottom", "left", "right", "center", "small", "large")), d.knownWords().toString());
    }

    @Test
    void folderOfCaptionedPngs(@TempDir Path dir) throws Exception {
        ImageDataSet shapes = ShapesDataSet.get();
        for (int i = 0; i < 3; i++) {
            ImageIO.write(Images.toImage(shapes.image(i), 64, 64), "png", dir.resolve("img" + i + ".png").toFile());
            Files.writeString(dir.resolve("img" + i + ".txt"), shapes.caption(i) + "\n");
        }
        Files.writeString(dir.resolve("notes.md"), "ignored");
        ImageDataSet d = ImageFolder.load(dir);
        assertEquals(3, d.size());
        assertEquals(dir.getFileName().toString(), d.name());
        for (int i = 0; i < 3; i++) {
            assertArrayEquals(shapes.image(i), d.image(i), 0f, "8-bit palette colours survive a PNG round trip");
            assertEquals(shapes.caption(i), d.caption(i));
        }
        Files.delete(dir.resolve("img1.txt"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ImageFolder.load(dir));
        assertTrue(e.getMessage().contains("have no caption file: img1.txt"), e.getMessage());
        Files.writeString(dir.resolve("img1.txt"), "x");
        ImageIO.write(new BufferedImage(32, 64, BufferedImage.TYPE_INT_RGB), "png", dir.resolve("img9.png").toFile());
        Files.writeString(dir.resolve("img9.txt"), "y");
        e = assertThrows(IllegalArgumentException.class, () -> ImageFolder.load(dir));
        assertTrue(e.getMessage().contains("is 32x64 but the first image is 64x64"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ImageFolder.load(dir.resolve("nope")));
        assertTrue(e.getMessage().startsWith("image folder not found"), e.getMessage());
    }
}
