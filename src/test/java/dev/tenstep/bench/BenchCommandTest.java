package dev.tenstep.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.cli.BenchCommand;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs {@code bench} on the tiny SD 1.5 fixture and checks the JSON figures exist and are positive (no speed assertions). */
class BenchCommandTest {
    private static final List<String> POSITIVE = List.of("load_ms", "text_encoder_ms", "unet_step_ms_median",
            "unet_step_ms_min", "vae_decode_ms", "pipeline_s", "peak_rss_mb", "peak_rss_sampled_mb", "heap_used_mb",
            "heap_peak_mb", "threads", "unet_steps_measured");

    private static JsonNode bench(String... extra) throws Exception {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = new CommandLine(new BenchCommand());
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        List<String> args = new java.util.ArrayList<>(List.of("--model", Fixtures.dir(Fixtures.SD15).toString(),
                "--steps", "2", "--threads", "1", "--json"));
        args.addAll(List.of(extra));
        int code = cl.execute(args.toArray(String[]::new));
        assertEquals(0, code, "bench failed: " + err);
        String json = out.toString().trim();
        assertTrue(json.startsWith("{") && json.endsWith("}"), "one JSON object on stdout: " + json);
        return new ObjectMapper().readTree(json);
    }

    private static void checkFigures(JsonNode n) {
        for (String f : POSITIVE) {
            assertTrue(n.has(f), "missing field " + f + " in " + n);
            assertTrue(n.get(f).isNumber() && n.get(f).asDouble() > 0, f + " must be a positive number, got " + n.get(f));
        }
        assertEquals(2, n.get("unet_batch").asInt(), "CFG batch 2");
        assertTrue(n.get("unet_step_ms_min").asDouble() <= n.get("unet_step_ms_median").asDouble());
        assertTrue(n.get("peak_rss_mb").asDouble() >= n.get("rss_after_load_mb").asDouble() - 1);
    }

    @Test
    void fixtureWeightsJsonFiguresArePositive() throws Exception {
        JsonNode n = bench("--repeat", "2", "--profile");
        checkFigures(n);
        assertEquals(4, n.get("unet_steps_measured").asInt(), "2 steps x 2 repeats");
        assertEquals("fused", n.get("attention_slice").asText());
        assertTrue(n.get("attention_fused").asBoolean(), "the default is libtorch's fused kernel");
        JsonNode p = n.get("profile");
        assertTrue(p != null && p.has("unet/conv") && p.has("unet/sdpa") && p.has("vae/resnet"), "profile rows: " + p);
        assertTrue(p.get("unet/(total)").get("total_ms_per_root_call").asDouble() > 0);
    }

    @Test
    void randomWeightsFromConfigsAndFixedAttentionSlices() throws Exception {
        // the fixture folder with random weights exercises the config-only path; 7 rows per slice forces slicing
        JsonNode n = bench("--random-weights", "--attention-slice", "7", "--warmup", "1");
        checkFigures(n);
        assertEquals("7", n.get("attention_slice").asText());
        assertFalse(n.get("attention_fused").asBoolean(), "query slices, not the fused kernel");
        assertTrue(n.get("random_weights").asBoolean());
    }

    @Test
    void bf16AndFp16AreRefusedWithTheReason() {
        for (String dtype : new String[] {"bf16", "fp16"}) {
            StringWriter out = new StringWriter();
            StringWriter err = new StringWriter();
            CommandLine cl = dev.tenstep.cli.Main.commandLine();
            cl.setOut(new PrintWriter(out));
            cl.setErr(new PrintWriter(err));
            int code = cl.execute("bench", "--model", Fixtures.dir(Fixtures.SD15).toString(), "--dtype", dtype);
            assertEquals(2, code, err.toString());
            assertEquals("", out.toString(), "nothing measured");
            String expected = dtype.equals("bf16")
                    ? "--dtype " + dev.tenstep.pipeline.Bf16Support.of(dev.tenstep.pipeline.DjlJni.loaded(),
                            dev.tenstep.model.nn.CpuBf16.cpuFlags()).whyNot(ai.djl.Device.cpu())
                    : "--dtype fp16: fp16 on the CPU is refused";
            assertTrue(err.toString().startsWith("error: " + expected), err.toString());
        }
    }
}
