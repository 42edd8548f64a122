package dev.tenstep.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SDXL's size conditioning as a request option ({@link MicroConditioning}): the time ids follow diffusers'
 * {@code _get_add_time_ids} (tiny-sdxl case 5's {@code time_ids_b} = original 1024 x 768, crop 48, 16, target 128 x 128),
 * the UNet receives them (case 6's conditional row at t = 500), the infotext and record carry the parts that are not the
 * defaults, bad values are named, and a model without the conditioning (tiny-sd15) refuses each field.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SdxlMicroConditioningTest {
    static final String FX = Fixtures.SDXL;
    static final String PROMPT = "a photo of an astronaut riding a horse on mars";
    /** The settings of case 5's {@code time_ids_b} (cases.json). */
    static final MicroConditioning B = new MicroConditioning(new MicroConditioning.Size(1024, 768),
            new MicroConditioning.Crop(48, 16), new MicroConditioning.Size(128, 128));

    private StableDiffusionPipeline pipeline;
    private NDManager manager;

    @BeforeAll
    void load() {
        manager = NDManager.newBaseManager();
        pipeline = StableDiffusionPipeline.load(Fixtures.dir(FX));
    }

    @AfterAll
    void close() {
        pipeline.close();
        manager.close();
    }

    private static GenerationRequest request(MicroConditioning m, int steps, double cfg) {
        return new GenerationRequest(PROMPT, "", steps, cfg, 3, SamplerKind.DDIM, null, null, null, null).withMicro(m);
    }

    @Test
    void theTimeIdsAreDiffusersSixNumbersInOrder() throws Exception {
        try (NDManager m = manager.newSubManager()) {
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(FX, "add_time_ids.safetensors"), m);
            ResolvedRequest b = pipeline.resolve(request(B, 10, 7.5));
            Allclose.assertExact("add_time_ids.time_ids_b", ref.get("time_ids_b"),
                    m.create(b.timeIds(), new Shape(1, 6)));
            ResolvedRequest a = pipeline.resolve(request(null, 10, 7.5));
            Allclose.assertExact("add_time_ids.time_ids_a", ref.get("time_ids_a"),
                    m.create(a.timeIds(), new Shape(1, 6)));
        }
        // each part alone replaces its two numbers; the others stay at (height, width), (0, 0), (height, width)
        MicroConditioning.Size s = new MicroConditioning.Size(1024, 768);
        MicroConditioning.Crop c = new MicroConditioning.Crop(48, 16);
        assertArrayEquals(new float[] {1024, 768, 0, 0, 128, 128},
                pipeline.resolve(request(MicroConditioning.of(s, null, null), 1, 7.5)).timeIds());
        assertArrayEquals(new float[] {128, 128, 48, 16, 128, 128},
                pipeline.resolve(request(MicroConditioning.of(null, c, null), 1, 7.5)).timeIds());
        assertArrayEquals(new float[] {128, 128, 0, 0, 1024, 768},
                pipeline.resolve(request(MicroConditioning.of(null, null, s), 1, 7.5)).timeIds());
        // the defaults follow a size other than the model's
        assertArrayEquals(new float[] {64, 96, 48, 16, 64, 96}, pipeline.resolve(
                request(MicroConditioning.of(null, c, null), 1, 7.5).withSize(96, 64)).timeIds());
    }

    /**
     * Case 6's conditional row: the UNet on {@code latents[1]} at t = 500 with the pipeline prompt's context and pooled
     * embedding and {@code time_ids_b}. Unguided (CFG 1) at sigma 0, the request's denoiser is exactly that UNet call, so
     * the option must reach the UNet; with the default time ids the output differs from the reference by far more than
     * its tolerance (the fixture README: a crop alone moves it by 0.06).
     */
    @Test
    void theUNetReceivesTheOption() throws Exception {
        try (NDManager m = pipeline.newManager()) {
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(FX, "unet.safetensors"), m);
            NDArray x = ref.get("latents").get(new NDIndex("1:2"));
            NDArray expected = ref.get("out_t500").get(new NDIndex("1:2"));
            Fixtures.Tolerance tol = Fixtures.tolerance(FX, "unet", "out_t500");

            NDArray withB = pipeline.condition(pipeline.resolve(request(B, 10, 1.0)), null, m).denoiser().eps(x, 0, 500);
            Allclose.assertClose("unet.out_t500 row 1 through the request's denoiser", expected, withB, tol);

            NDArray defaults = pipeline.condition(pipeline.resolve(request(null, 10, 1.0)), null, m).denoiser().eps(x, 0, 500);
            double moved = expected.sub(defaults).abs().max().getFloat();
            assertTrue(moved > 100 * tol.atol(), "default time ids must give another output, max|diff| " + moved);
        }
    }

    @Test
    void theInfotextAndRecordCarryWhatDiffersFromTheDefaults() throws Exception {
        GenerationResult g = pipeline.generate(request(B, 2, 7.5));
        // target 128 x 128 is the image's size, the default: not written; the original size (height 1024, width 768)
        // width first, as Size is
        assertTrue(g.infotext().endsWith(", Model: tiny-sdxl, Original size: 768x1024, Crop top left: \"48,16\""),
                g.infotext());
        String json = GenerationRecord.JSON.writeValueAsString(GenerationRecord.of(g, pipeline.name()));
        assertTrue(json.contains("\"original_size\":[1024,768],\"crops_coords_top_left\":[48,16],\"target_size\":[128,128]"),
                json);
        Map<String, String> parsed = Infotext.parse(g.infotext());
        assertEquals("48,16", parsed.get("Crop top left"), "the quoted pair reads back");
        assertEquals(B.originalSize(), MicroConditioning.Size.parse(parsed.get("Original size")),
                "the infotext's size parses back as the option reads it");
        assertEquals("128x128", parsed.get("Size"));

        ResolvedRequest target = pipeline.resolve(request(MicroConditioning.of(null, MicroConditioning.Crop.NONE,
                new MicroConditioning.Size(1024, 1024)), 2, 7.5));
        String info = Infotext.format(target, pipeline.name());
        assertTrue(info.endsWith(", Model: tiny-sdxl, Target size: 1024x1024"), info);

        String plain = Infotext.format(pipeline.resolve(request(null, 2, 7.5)), pipeline.name());
        assertFalse(plain.contains("size:") || plain.contains("Crop"), plain);
        assertFalse(GenerationRecord.JSON.writeValueAsString(GenerationRecord.ofRequest(pipeline.resolve(request(null, 2, 7.5)),
                "m")).contains("original_size"));
    }

    @Test
    void badValuesAreNamed() {
        InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> pipeline.resolve(request(
                new MicroConditioning(new MicroConditioning.Size(0, 768), new MicroConditioning.Crop(-1, 0),
                        new MicroConditioning.Size(1024, -5)), 2, 7.5)));
        assertEquals(List.of("original_size", "crops_coords_top_left", "target_size"),
                e.fieldErrors().stream().map(FieldError::field).toList());
        assertTrue(e.fieldErrors().get(0).message().contains("at least 1 pixel each, got height 0, width 768"),
                e.getMessage());
        assertTrue(e.fieldErrors().get(1).message().contains("at least 0 pixels, got -1,0"), e.getMessage());

        // width first: 768 wide, 1024 high
        assertEquals(new MicroConditioning.Size(1024, 768), MicroConditioning.Size.parse(" 768 x 1024 "));
        assertEquals(new MicroConditioning.Size(512, 640), MicroConditioning.Size.parse("640X512"));
        assertEquals("768x1024", new MicroConditioning.Size(1024, 768).toString());
        assertEquals(new MicroConditioning.Crop(0, 256), MicroConditioning.Crop.parse("0,256"));
        for (String bad : new String[] {"1024", "1024x", "axb", "1024x768x3", "1024,768", "1.5x2", "99999999999x1"}) {
            IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> MicroConditioning.Size.parse(bad));
            assertTrue(x.getMessage().contains("must be WxH") && x.getMessage().contains("'" + bad + "'"), x.getMessage());
        }
        for (String bad : new String[] {"0", "0x0", "0,0,0", "a,b", ""}) {
            IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> MicroConditioning.Crop.parse(bad));
            assertTrue(x.getMessage().contains("must be TOP,LEFT"), x.getMessage());
        }
    }

    /** A model without the conditioning refuses every field that is set, by name, rather than ignoring it. */
    @Test
    void sd15RefusesEachField() {
        try (StableDiffusionPipeline sd15 = StableDiffusionPipeline.load(Fixtures.dir(Fixtures.SD15))) {
            InvalidRequestException e = assertThrows(InvalidRequestException.class, () -> sd15.resolve(request(B, 2, 7.5)));
            assertEquals(List.of("original_size", "crops_coords_top_left", "target_size"),
                    e.fieldErrors().stream().map(FieldError::field).toList());
            assertTrue(e.fieldErrors().get(0).message().contains("applies to SDXL models only; tiny-sd15 is not one (got "
                    + "height 1024, width 768)"), e.getMessage());
            InvalidRequestException crop = assertThrows(InvalidRequestException.class, () -> sd15.resolve(request(
                    MicroConditioning.of(null, MicroConditioning.Crop.NONE, null), 2, 7.5)));
            assertEquals(List.of("crops_coords_top_left"), crop.fieldErrors().stream().map(FieldError::field).toList(),
                    "even the default value: the model has no such input");
            sd15.resolve(request(null, 2, 7.5));
        }
    }
}
