package dev.tenstep.web;

import dev.tenstep.pipeline.FieldError;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.sampling.SamplerKind;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Binding request bodies to the request records: lenient integral forms, exact numbers, every bad field named. */
class RequestsTest {

    private static <T> T bind(String json, Class<T> type, List<FieldError> errors) {
        return Requests.bind(Requests.body(json), type, errors);
    }

    @Test
    void integralFormsAndNumericStringsAreTakenExactlyAndUnknownFieldsIgnored() {
        List<FieldError> errors = new ArrayList<>();
        String json = "{\"steps\": 2.0, \"seed\": 9007199254740993, \"width\": \"64\", \"height\": \" \","
                + " \"cfg_scale\": \"7.5\", \"sampler\": \"ddim\", \"whatever\": {\"x\": [1]}}";
        GenerationBody b = bind(json, GenerationBody.class, errors);
        Txt2ImgBody own = bind(json, Txt2ImgBody.class, errors);
        assertEquals(List.of(), errors);
        assertEquals(2, b.steps());
        assertEquals(9007199254740993L, b.seed(), "no rounding through double");
        assertEquals(64, b.width());
        assertNull(b.height(), "a blank string is not sent");
        assertEquals(7.5, b.cfgScale());
        GenerationRequest r = b.toRequest(own.samplerField(), own.scheduleField(), errors);
        assertEquals(List.of(), errors);
        assertEquals(SamplerKind.byName("ddim"), r.sampler());
        assertEquals(Job.Preview.APPROX, own.previewMode(errors));
    }

    @Test
    void everyBadFieldIsNamedQuotingWhatWasSent() {
        List<FieldError> errors = new ArrayList<>();
        String json = "{\"prompt\": 5, \"steps\": 2.5, \"seed\": -7, \"width\": 1e30, \"cfg_scale\": \"lots\","
                + " \"gamma\": true, \"sampler\": \"euler_a\", \"preview\": \"big\"}";
        GenerationBody b = bind(json, GenerationBody.class, errors);
        Txt2ImgBody own = bind(json, Txt2ImgBody.class, errors);
        b.toRequest(own.samplerField(), own.scheduleField(), errors);
        own.previewMode(errors);
        List<String> fields = errors.stream().map(FieldError::field).toList();
        assertEquals(List.of("prompt", "steps", "seed", "width", "cfg_scale", "gamma", "sampler", "preview"), fields);
        assertEquals("must be a string", errors.get(0).message());
        assertEquals("must be an integer, got 2.5", errors.get(1).message());
        assertTrue(errors.get(2).message().startsWith(Requests.SEED_RANGE) && errors.get(2).message().endsWith("got -7"));
        assertEquals("out of range, got 1E+30", errors.get(3).message());
        assertEquals("must be a number, got \"lots\"", errors.get(4).message());
        assertEquals("must be a number, got true", errors.get(5).message());
    }

    @Test
    void a1111FieldsSamplerIndexFlagsAndUnhonouredValues() {
        List<FieldError> errors = new ArrayList<>();
        A1111Txt2ImgBody b = bind("{\"sampler_index\": \"DDIM\", \"send_images\": \"false\", \"save_images\": 1,"
                + " \"override_settings_restore_afterwards\": false, \"enable_hr\": false, \"styles\": [], \"eta\": 0,"
                + " \"batch_size\": 3.0, \"n_iter\": \"2\"}", A1111Txt2ImgBody.class, errors);
        assertEquals(List.of(), errors);
        assertEquals("sampler_index", b.samplerField().field());
        assertEquals(SamplerKind.byName("DDIM"), new GenerationBody(null, null, null, null, null, null, null, null, null,
                null, null, null, null, null).toRequest(b.samplerField(), b.scheduleField(), errors).sampler());
        assertEquals(Boolean.FALSE, b.sendImages());
        assertEquals(Boolean.TRUE, b.saveImages());
        assertEquals(Boolean.FALSE, b.restoreAfterwards());
        assertEquals(3L, b.batchSize());
        assertEquals(2L, b.nIter());
        assertEquals(List.of(), b.unhonoured(), "no-op values are accepted");

        A1111Txt2ImgBody refused = bind("{\"tiling\": \"true\", \"styles\": [\"cinematic\"],"
                + " \"subseed_strength\": 0.5, \"refiner_checkpoint\": \"r.safetensors\", \"sampler_name\": \"Euler a\"}",
                A1111Txt2ImgBody.class, errors);
        assertEquals(List.of("tiling", "styles", "subseed_strength", "refiner_checkpoint"),
                refused.unhonoured().stream().map(FieldError::field).toList());
        assertEquals("sampler_name", refused.samplerField().field());
        new GenerationBody(null, null, null, null, null, null, null, null, null, null, null, null, null, null)
                .toRequest(refused.samplerField(), refused.scheduleField(), errors);
        assertEquals(List.of("sampler_name"), errors.stream().map(FieldError::field).toList());
        assertFalse(errors.get(0).message().isBlank());
    }

    /** SDXL's size conditioning: [h, w] / [top, left] arrays as diffusers names them; any other shape is named. */
    @Test
    void sizeConditioningFieldsBindAsPairs() {
        List<FieldError> errors = new ArrayList<>();
        String json = "{\"original_size\": [1024, 768], \"crops_coords_top_left\": [\"48\", 16.0], \"target_size\": [128, 128]}";
        GenerationBody b = bind(json, GenerationBody.class, errors);
        Txt2ImgBody own = bind(json, Txt2ImgBody.class, errors);
        GenerationRequest r = b.toRequest(own.samplerField(), own.scheduleField(), errors);
        assertEquals(List.of(), errors);
        assertEquals(new dev.tenstep.pipeline.MicroConditioning(new dev.tenstep.pipeline.MicroConditioning.Size(1024, 768),
                new dev.tenstep.pipeline.MicroConditioning.Crop(48, 16), new dev.tenstep.pipeline.MicroConditioning.Size(128, 128)),
                r.micro());
        assertNull(bind("{\"steps\": 2}", GenerationBody.class, errors).toRequest(own.samplerField(), own.scheduleField(),
                errors).micro(), "none sent: the defaults");

        bind("{\"original_size\": [1024], \"crops_coords_top_left\": \"0,0\", \"target_size\": [1.5, 2]}",
                GenerationBody.class, errors);
        assertEquals(List.of("original_size", "crops_coords_top_left", "target_size"),
                errors.stream().map(FieldError::field).toList());
        assertEquals("must be an array of two integers, got [1024]", errors.get(0).message());
        assertEquals("must be an array of two integers, got \"0,0\"", errors.get(1).message());
    }
}
