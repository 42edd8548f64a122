package dev.tenstep.cli;

import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code check-device} on the CPU in fp32 with the SDXL fixture: tiny-sdxl's {@code pipeline_ddim} case (no negative
 * prompt, so the zero unconditional branch; the pooled embedding and time ids of the default size) passes at the
 * fixture's own tolerance, and the same run fails at a tolerance far below float32's deviation, so the command
 * compares rather than reports.
 */
class CheckDeviceCommandTest {
    private static final Pattern LINE = Pattern.compile("tiny-sdxl cpu fp32 (\\w+): max \\|err\\| (\\S+) .* (ok|FAILED)");

    @Test
    void theSdxlFixtureReproducesItsDdimCase() {
        GenerateCommandTest.Run r = GenerateCommandTest.run("check-device", "--fixture", Fixtures.dir(Fixtures.SDXL).toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        List<String> tensors = LINE.matcher(r.out()).results().map(m -> m.group(1) + " " + m.group(3)).toList();
        assertEquals(List.of("prompt_embeds ok", "final_latents ok", "final_image ok"), tensors, r.out());
        assertTrue(r.out().contains("check-device: all within tolerance (x1.0)"), r.out());
        GenerateCommandTest.Run strict = GenerateCommandTest.run("check-device", "--fixture",
                Fixtures.dir(Fixtures.SDXL).toString(), "--tolerance-scale", "1e-6");
        assertEquals(1, strict.exit(), strict.out() + strict.err());
        assertTrue(strict.out().contains("final_latents") && strict.out().contains("FAILED")
                && strict.out().contains("check-device: FAILED"), strict.out());
    }
}
