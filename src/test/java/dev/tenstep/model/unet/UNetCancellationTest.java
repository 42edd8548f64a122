package dev.tenstep.model.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** An interrupt that arrives during a UNet forward stops it at the next block, not after the whole step. */
class UNetCancellationTest {

    @Test
    void interruptDuringAForwardStopsItBetweenBlocks() {
        try (NDManager manager = NDManager.newBaseManager();
             UNet2DConditionModel unet = UNet2DConditionModel.load(Fixtures.dir(Fixtures.SD15).resolve("unet"), manager)) {
            NDArray sample = manager.ones(new Shape(1, 4, 8, 8));
            NDArray ctx = manager.zeros(new Shape(1, 77, unet.config().crossAttentionDim()));
            List<String> seen = new ArrayList<>();
            try {
                CancellationException e = assertThrows(CancellationException.class, () ->
                        unet.forward(sample, 500f, ctx, (name, a) -> {
                            seen.add(name);
                            if (name.equals("unet.down_blocks.0")) {
                                // what JobQueue.cancel does to the worker thread while the step runs
                                Thread.currentThread().interrupt();
                            }
                        }));
                assertEquals("cancelled", e.getMessage());
                assertTrue(Thread.currentThread().isInterrupted(), "the model leaves the interrupt flag for the caller");
            } finally {
                Thread.interrupted();
            }
            assertEquals(List.of("unet.time_proj", "unet.time_embedding", "unet.conv_in", "unet.down_blocks.0"), seen,
                    "stopped before down block 1");
            assertFalse(seen.contains("unet.conv_out"));
            // the model is still usable once the flag is cleared
            NDArray out = unet.forward(sample, 500f, ctx);
            assertEquals(sample.getShape(), out.getShape());
        }
    }
}
