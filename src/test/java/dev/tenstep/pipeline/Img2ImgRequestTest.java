package dev.tenstep.pipeline;

import dev.tenstep.io.Hashes;
import dev.tenstep.sampling.Img2ImgSteps;
import dev.tenstep.sampling.RngKind;
import dev.tenstep.sampling.SamplerKind;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The request side of img2img and the hires fix without a model: init images (alpha, grey, base64, Lanczos resize),
 * the hires size rules, the default size, validation and the infotext.
 */
class Img2ImgRequestTest {

    private static byte[] png(BufferedImage img) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(img, "png", out);
        return out.toByteArray();
    }

    @Test
    void transparentPixelsAreFlattenedOntoWhiteAsPillowPastes() throws Exception {
        BufferedImage img = new BufferedImage(2, 1, BufferedImage.TYPE_INT_ARGB);
        img.setRGB(0, 0, 0x00_000000);  // fully transparent black -> white
        img.setRGB(1, 0, 0x80_204060);  // alpha 128
        InitImage i = InitImage.decode(png(img), "a.png");
        assertEquals(255, i.rgb()[0][0]);
        // DIV255(255 (255 - a) + c a + 128) with a = 128: R 0x20 = 32 -> 143
        int tmp = 255 * 127 + 32 * 128 + 128;
        assertEquals(((tmp >> 8) + tmp) >> 8, i.rgb()[0][1]);
        assertEquals(143, i.rgb()[0][1]);
    }

    @Test
    void greyImagesKeepTheirStoredValues() throws Exception {
        BufferedImage g = new BufferedImage(1, 1, BufferedImage.TYPE_BYTE_GRAY);
        g.getRaster().setSample(0, 0, 0, 100);
        InitImage i = InitImage.decode(png(g), null);
        assertArrayEquals(new int[] {100}, i.rgb()[0]);
        assertArrayEquals(new int[] {100}, i.rgb()[2]);
    }

    @Test
    void base64AndDataUrlsDecodeAndBadInputIsNamed() throws Exception {
        BufferedImage img = new BufferedImage(3, 2, BufferedImage.TYPE_INT_RGB);
        byte[] bytes = png(img);
        String b64 = Base64.getEncoder().encodeToString(bytes);
        assertEquals(Hashes.sha256(bytes), InitImage.fromBase64(b64).sha256());
        assertEquals("3x2", InitImage.fromBase64("data:image/png;base64," + b64).size());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> InitImage.fromBase64("%%%")).getMessage()
                .startsWith("is not base64"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> InitImage.fromBase64("aGVsbG8="))
                .getMessage().startsWith("is not an image"));
    }

    /** Pillow's Lanczos: a constant stays constant, the same size is the image itself, weights are symmetric. */
    @Test
    void lanczosResizeKeepsConstantsAndSymmetry() {
        int[][] flat = {new int[16], new int[16], new int[16]};
        java.util.Arrays.fill(flat[0], 77);
        assertEquals(77, ImageResize.lanczos(flat, 4, 4, 7, 3)[0][10]);
        assertTrue(ImageResize.lanczos(flat, 4, 4, 4, 4) == flat);
        // a mirror-symmetric row stays mirror-symmetric, shrinking and enlarging
        int[] row = {0, 50, 200, 255, 255, 200, 50, 0};
        int[][] planes = {row, row, row};
        for (int out : new int[] {3, 5, 13}) {
            int[] r = ImageResize.lanczos(planes, 8, 1, out, 1)[0];
            for (int x = 0; x < out; x++) {
                assertEquals(r[x], r[out - 1 - x], "symmetric at " + out);
            }
        }
        // 2x down: output 0 covers inputs 0..4 around 1.0 with weights summing to 1 (fixed-point rounding aside)
        int[] half = ImageResize.lanczos(new int[][] {row, row, row}, 8, 1, 4, 1)[0];
        assertTrue(half[0] < half[1], java.util.Arrays.toString(half));
    }

    @Test
    void hiresTargetsFollowA1111() {
        HiresFix scale = new HiresFix(null, 1.5, null, null, null, null).resolved();
        assertEquals(new HiresFix.Target(768, 768, 768, 768), scale.target(512, 512));
        // one resize: the other side at the first pass's aspect
        assertEquals(new HiresFix.Target(1024, 768, 1024, 768), new HiresFix(null, null, 1024, 0, 0, null).target(512, 384));
        assertEquals(new HiresFix.Target(1024, 768, 1024, 768), new HiresFix(null, null, 0, 768, 0, null).target(512, 384));
        // both, another aspect: cover, then crop (A1111's truncate_x/y)
        assertEquals(new HiresFix.Target(1024, 1024, 1024, 768), new HiresFix(null, null, 1024, 768, 0, null).target(512, 512));
        assertEquals(new HiresFix.Target(1024, 1024, 768, 1024), new HiresFix(null, null, 768, 1024, 0, null).target(512, 512));
        // the latent crop keeps the centre rows: 2 dropped at the top, 2 at the bottom
        float[] x = new float[8];
        for (int i = 0; i < 8; i++) {
            x[i] = i;
        }
        assertArrayEquals(new float[] {2, 3, 4, 5}, DenoiseStage.crop(x, 1, 8, 1, 4, 1));
        assertArrayEquals(new float[] {1, 2}, DenoiseStage.crop(new float[] {0, 1, 2, 3}, 1, 4, 1, 2, 1),
                "(4 - 2) // 2 = 1 at the top");
    }

    @Test
    void defaultsAndInfotext() {
        HiresFix h = HiresFix.DEFAULT.resolved();
        assertEquals(LatentUpscaler.LATENT, h.upscaler());
        assertEquals(2.0, h.scale());
        assertEquals(0.75, h.strength());
        assertEquals(12, h.passSteps(12));
        ResolvedRequest r = new GenerationRequest("p", "", 10, 7.0, 5, SamplerKind.GE, null, null, 64, 64, null, null, null)
                .withHires(new HiresFix(LatentUpscaler.LATENT_NEAREST_EXACT, 1.5, null, null, 4, 0.5)).resolved(5, 64, 64,
                        ModelDefaults.SD);
        assertEquals(14, r.stepsRun());
        assertEquals(96, r.outputWidth());
        assertTrue(Infotext.format(r, "m").endsWith("Seed: 5, Size: 64x64, Model: m, Denoising strength: 0.5, "
                + "Hires upscale: 1.5, Hires steps: 4, Hires upscaler: Latent (nearest-exact)"), Infotext.format(r, "m"));
    }

    @Test
    void img2imgSizeAndValidation() {
        InitImage image = new InitImage(70, 50, new int[][] {new int[3500], new int[3500], new int[3500]}, "00".repeat(32), null);
        List<FieldError> errors = new ArrayList<>();
        assertArrayEquals(new int[] {64, 48}, Img2Img.size(image, null, null, 8, 1024, errors));
        assertArrayEquals(new int[] {136, 96}, Img2Img.size(image, null, 100, 8, 1024, errors), "from the aspect");
        assertTrue(errors.isEmpty());
        Img2Img.size(image, null, null, 8, 32, errors);
        assertEquals("width", errors.get(0).field());
        assertTrue(errors.get(0).message().contains("the init image is 70x50"), errors.get(0).message());

        GenerationRequest base = new GenerationRequest("p", "", 10, null, 1, SamplerKind.DDIM, null, null, null, null, null,
                null, RngKind.TORCH_CPU);
        List<FieldError> v = base.withImg2Img(new Img2Img(image, 0.05, null)).validate(8, 1000);
        assertEquals(List.of("denoising_strength"), v.stream().map(FieldError::field).toList());
        assertTrue(base.withImg2Img(new Img2Img(image, 0.05, Img2ImgSteps.A1111)).validate(8, 1000).isEmpty());
        assertEquals(List.of("enable_hr"), base.withImg2Img(new Img2Img(image, 0.5, null)).withHires(HiresFix.DEFAULT)
                .validate(8, 1000).stream().map(FieldError::field).toList());
        ResolvedRequest r = base.withImg2Img(new Img2Img(image, null, null)).resolved(1, 64, 48, ModelDefaults.SD);
        assertEquals(0.75, r.img2img().strength());
        assertEquals(7, r.stepsRun());
        assertEquals(r, r.unresolved().resolved(1, 64, 48, ModelDefaults.SD), "resolving again gives the same");
    }
}
