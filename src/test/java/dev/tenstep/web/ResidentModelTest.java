package dev.tenstep.web;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The switch barrier on its own, with model names for models: leases, switches, their order and refusals. */
class ResidentModelTest {

    /** Waits (at most 30 s) until a switch is pending. */
    private static void awaitPending(ResidentModel<String> model, String target) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!target.equals(model.switchingTo())) {
            assertTrue(System.nanoTime() < deadline, "the switch was never asked for");
            Thread.onSpinWait();
        }
    }

    private static CompletableFuture<String> switchAsync(ResidentModel<String> model, String target, AtomicBoolean swapped) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return model.switchModel(target, old -> {
                    swapped.set(true);
                    return target;
                });
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
    }

    @Test
    void aSwitchWaitsForARunningLeaseAndNewLeasesWaitForTheSwitch() throws Exception {
        ResidentModel<String> model = new ResidentModel<>("a");
        ResidentModel.Lease<String> running = model.tryLease();
        AtomicBoolean swapped = new AtomicBoolean();
        CompletableFuture<String> switched = switchAsync(model, "b", swapped);
        awaitPending(model, "b");

        ResidentModel.SwitchingException refused = assertThrows(ResidentModel.SwitchingException.class, model::tryLease);
        assertTrue(refused.getMessage().contains("switching the model to 'b'"), refused.getMessage());
        CompletableFuture<String> after = CompletableFuture.supplyAsync(() -> {
            try (ResidentModel.Lease<String> l = model.lease(30, TimeUnit.SECONDS)) {
                return l.generator();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        Thread.sleep(200);
        assertFalse(swapped.get(), "the open lease keeps the old model resident");
        assertFalse(after.isDone(), "a lease asked for after the switch waits for it");
        assertEquals("a", running.generator());

        running.close();
        assertEquals("b", switched.get(30, TimeUnit.SECONDS));
        assertEquals("b", after.get(30, TimeUnit.SECONDS), "the waiting lease gets the new model");
        assertEquals("b", model.generator());
        assertNull(model.switchingTo());
        try (ResidentModel.Lease<String> l = model.tryLease()) {
            assertEquals("b", l.generator());
        }
    }

    @Test
    void aSharedLeasePassesAPendingSwitchWhichWaitsForItToo() throws Exception {
        ResidentModel<String> model = new ResidentModel<>("a");
        ResidentModel.Lease<String> caller = model.tryLease();
        AtomicBoolean swapped = new AtomicBoolean();
        CompletableFuture<String> switched = switchAsync(model, "b", swapped);
        awaitPending(model, "b");
        // a job submitted under the caller's lease: no wait, the same model
        ResidentModel.Lease<String> job = caller.share();
        assertEquals("a", job.generator());
        caller.close();
        Thread.sleep(200);
        assertFalse(swapped.get(), "the job's lease still holds the old model");
        job.close();
        assertEquals("b", switched.get(30, TimeUnit.SECONDS));
        assertThrows(IllegalStateException.class, caller::share, "a closed lease cannot be shared");
    }

    @Test
    void aLeaseGivesUpAfterItsTimeoutNamingTheSwitch() throws Exception {
        ResidentModel<String> model = new ResidentModel<>("a");
        ResidentModel.Lease<String> running = model.tryLease();
        CompletableFuture<String> switched = switchAsync(model, "b", new AtomicBoolean());
        awaitPending(model, "b");
        ResidentModel.SwitchingException e = assertThrows(ResidentModel.SwitchingException.class,
                () -> model.lease(50, TimeUnit.MILLISECONDS));
        assertTrue(e.getMessage().contains("'b'"), e.getMessage());
        running.close();
        assertEquals("b", switched.get(30, TimeUnit.SECONDS));
    }

    @Test
    void aFailedSwapKeepsTheOldModelAndEndsTheSwitch() throws Exception {
        ResidentModel<String> model = new ResidentModel<>("a");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> model.switchModel("b", old -> {
            throw new IllegalStateException("cannot load b");
        }));
        assertEquals("cannot load b", e.getMessage());
        assertEquals("a", model.generator());
        assertNull(model.switchingTo());
        try (ResidentModel.Lease<String> l = model.tryLease()) {
            assertEquals("a", l.generator());
        }
    }

    @Test
    void closingALeaseTwiceGivesBackOnePermitAndCloseRefusesNewLeases() throws Exception {
        ResidentModel<String> model = new ResidentModel<>("a");
        ResidentModel.Lease<String> l = model.tryLease();
        l.close();
        l.close();
        assertFalse(l.isOpen());
        // a second permit back would overflow the semaphore (an Error) or let a switch run beside a lease
        assertEquals("b", model.switchModel("b", old -> "b"));
        model.close();
        assertThrows(IllegalStateException.class, model::tryLease);
        assertThrows(IllegalStateException.class, () -> model.lease(1, TimeUnit.SECONDS));
        assertThrows(IllegalStateException.class, () -> model.switchModel("c", old -> "c"));
    }
}
