package dev.tenstep.model.nn;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --attention-slice} values and the rows per slice they give. */
class AttentionSettingsTest {
    @Test
    void parsesTheOptionValues() {
        assertEquals(AttentionSettings.DEFAULT, AttentionSettings.parse(null, 0));
        assertEquals(AttentionSettings.DEFAULT, AttentionSettings.parse(" Fused ", 0));
        AttentionSettings auto = AttentionSettings.parse("auto", 64);
        assertFalse(auto.fused());
        assertEquals(64L << 20, auto.budgetBytes());
        assertEquals("auto", auto.label());
        assertEquals(Long.MAX_VALUE, AttentionSettings.parse("OFF", 0).sliceRows());
        assertEquals("off", AttentionSettings.parse("0", 0).label());
        assertEquals(512, AttentionSettings.parse("512", 0).sliceRows());
        assertEquals("512", AttentionSettings.parse("512", 0).label());
        for (String bad : new String[] {"-3", "lots", "1.5"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AttentionSettings.parse(bad, 0));
            assertTrue(e.getMessage().startsWith("--attention-slice must be fused, auto, off"), e.getMessage());
            assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AttentionSettings.parse("auto", -5));
        assertEquals("--attention-budget must be a number of MiB >= 0 (0 = the default, 256), got -5", e.getMessage());
    }

    @Test
    void rowsPerSliceFromTheBudget() {
        // SD 1.5 self-attention at 512 px, CFG batch 2 x 8 heads over 4096 keys: 256 KiB of fp32 scores per
        // query row, so the default 256 MiB budget holds 1024 rows (4 slices of 4096 queries)
        assertEquals(1024, AttentionSettings.parse("auto", 0).rowsPerSlice(16, 4096));
        // a budget smaller than one row still gives one row per slice
        assertEquals(1, new AttentionSettings(false, AttentionSettings.AUTO_ROWS, 1).rowsPerSlice(16, 4096));
        assertEquals(7, AttentionSettings.parse("7", 0).rowsPerSlice(16, 4096));
    }

    @Test
    void useRestoresThePreviousSetting() {
        AttentionSettings before = AttentionSettings.current();
        AttentionSettings off = AttentionSettings.parse("off", 0);
        try (AttentionSettings.Scope outer = AttentionSettings.use(off)) {
            assertSame(off, AttentionSettings.current());
            assertFalse(Ops.fusedAttention());
            try (AttentionSettings.Scope inner = AttentionSettings.use(AttentionSettings.DEFAULT)) {
                assertSame(AttentionSettings.DEFAULT, AttentionSettings.current());
            }
            assertSame(off, AttentionSettings.current());
        }
        assertSame(before, AttentionSettings.current());
    }

    /** The setting holds for the thread that set it: another thread (another pipeline's job) keeps its own. */
    @Test
    void useHoldsForTheCallingThreadOnly() throws Exception {
        AttentionSettings off = AttentionSettings.parse("off", 0);
        try (AttentionSettings.Scope s = AttentionSettings.use(off)) {
            java.util.concurrent.CompletableFuture<AttentionSettings> other =
                    java.util.concurrent.CompletableFuture.supplyAsync(AttentionSettings::current,
                            java.util.concurrent.Executors.newSingleThreadExecutor());
            assertSame(AttentionSettings.DEFAULT, other.get(10, java.util.concurrent.TimeUnit.SECONDS));
            assertSame(off, AttentionSettings.current());
        }
    }
}
