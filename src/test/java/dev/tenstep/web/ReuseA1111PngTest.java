package dev.tenstep.web;

import dev.tenstep.pipeline.Infotext;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code /?reuse=FILE} for a PNG made by A1111 (its {@code parameters} text only, no sidecar) opened an empty form: the
 * form is filled from the infotext as A1111's "PNG Info -> Send to txt2img" does.
 */
class ReuseA1111PngTest {
    static final String A1111 = "a castle on a hill, (masterpiece:1.2)\nat dusk\n"
            + "Negative prompt: blurry, lowres\n"
            + "Steps: 28, Sampler: DDIM, Schedule type: Karras, CFG scale: 6.5, Seed: 1234567, Size: 512x768, "
            + "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, VAE hash: 735e4c3a44, VAE: vae-ft-mse.safetensors, "
            + "Lora hashes: \"a: 1, b: 2\", Version: v1.10.1";

    @Test
    void parsesA1111Parameters() {
        Map<String, String> p = Infotext.parse(A1111);
        assertEquals("a castle on a hill, (masterpiece:1.2)\nat dusk", p.get("prompt"));
        assertEquals("blurry, lowres", p.get("negative_prompt"));
        assertEquals("28", p.get("Steps"));
        assertEquals("DDIM", p.get("Sampler"));
        assertEquals("Karras", p.get("Schedule type"));
        assertEquals("512x768", p.get("Size"));
        assertEquals("a: 1, b: 2", p.get("Lora hashes"), "a quoted value keeps its commas");
        assertEquals("v1.10.1", p.get("Version"));
        // a prompt alone (no parameters line)
        assertEquals("just a prompt", Infotext.parse("just a prompt").get("prompt"));
    }

    @Test
    void fillsTheFormFromTheInfotext() {
        Map<String, Object> f = new LinkedHashMap<>();
        Pages.reuseInfotext(A1111, f);
        assertEquals("a castle on a hill, (masterpiece:1.2)\nat dusk", f.get("prompt"));
        assertEquals("blurry, lowres", f.get("negative_prompt"));
        assertEquals(28L, f.get("steps"));
        assertEquals(6.5, f.get("cfg_scale"));
        assertEquals(1234567L, f.get("seed"));
        assertEquals(512, f.get("width"));
        assertEquals(768, f.get("height"));
        assertEquals("ddim", f.get("sampler"));
        assertEquals("karras", f.get("schedule"));
        assertFalse(f.containsKey("reuse_note"));
        // a sampler and a schedule this server lacks: left at the defaults, and said so
        Map<String, Object> g = new LinkedHashMap<>();
        Pages.reuseInfotext("x\nSteps: 20, Sampler: Euler a, Schedule type: Exponential, CFG scale: 7, Seed: 1, Size: 64x64", g);
        assertEquals(20L, g.get("steps"));
        assertFalse(g.containsKey("sampler"));
        String note = (String) g.get("reuse_note");
        assertTrue(note.contains("Sampler: Euler a") && note.contains("Schedule type: Exponential"), note);
        // this server's older infotexts wrote "Schedule:"
        Map<String, Object> h = new LinkedHashMap<>();
        Pages.reuseInfotext("x\nSteps: 10, Sampler: GE, Schedule: log-linear, CFG scale: 7.5, Seed: 42, Size: 64x64", h);
        assertEquals("log-linear", h.get("schedule"));
    }
}
