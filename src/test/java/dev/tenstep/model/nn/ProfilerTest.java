package dev.tenstep.model.nn;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** A profiler records only the modules run on the thread it is active on, and only while active. */
class ProfilerTest {
    @Test
    void recordsTheActiveThreadOnly() throws Exception {
        Profiler p = new Profiler();
        assertEquals(0L, Profiler.start("unet"), "no profiler active: nothing recorded");
        ExecutorService other = Executors.newSingleThreadExecutor();
        try (Profiler.Scope s = p.activate()) {
            Profiler.time("unet", () -> Profiler.time("conv", () -> 1) + Profiler.time("conv", () -> 2));
            // a module run on another thread at the same time is not this profiler's
            CompletableFuture.supplyAsync(() -> Profiler.time("vae", () -> 3), other).get(10, TimeUnit.SECONDS);
        } finally {
            other.shutdown();
        }
        Profiler.time("unet", () -> 4);
        assertEquals(List.of("unet/(other)", "unet/(total)", "unet/conv"), List.copyOf(p.snapshot().keySet()));
        assertEquals(2, p.snapshot().get("unet/conv").calls());
        assertEquals(1, p.snapshot().get("unet/(total)").calls(), "the call after the scope closed is not recorded");
    }
}
