package dev.tenstep.model.vae;

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

/** An interrupt during a VAE decode or encode stops it at the next block. */
class VaeCancellationTest {

    @Test
    void interruptDuringDecodeStopsItBetweenBlocks() {
        try (NDManager m = NDManager.newBaseManager()) {
            AutoencoderKL vae = AutoencoderKL.load(Fixtures.dir(Fixtures.SD15).resolve("vae"), m);
            NDArray z = m.ones(new Shape(1, vae.config().latentChannels(), 8, 8));
            List<String> seen = new ArrayList<>();
            try {
                assertThrows(CancellationException.class, () -> vae.decode(z, (name, a) -> {
                    seen.add(name);
                    if (name.equals("vae.decoder.conv_in")) {
                        Thread.currentThread().interrupt();
                    }
                }));
            } finally {
                Thread.interrupted();
            }
            assertEquals(List.of("vae.post_quant_conv", "vae.decoder.conv_in"), seen, "stopped before the mid block");
            assertEquals(new Shape(1, 3, 8L * vae.config().downscale(), 8L * vae.config().downscale()), vae.decode(z).getShape());
        }
    }

    @Test
    void interruptDuringEncodeStopsItBetweenBlocks() {
        try (NDManager m = NDManager.newBaseManager()) {
            AutoencoderKL vae = AutoencoderKL.load(Fixtures.dir(Fixtures.SD15).resolve("vae"), m);
            int f = vae.config().downscale();
            NDArray image = m.zeros(new Shape(1, vae.config().inChannels(), 8L * f, 8L * f));
            List<String> seen = new ArrayList<>();
            try {
                assertThrows(CancellationException.class, () -> vae.encode(image, (name, a) -> {
                    seen.add(name);
                    if (name.equals("vae.encoder.conv_in")) {
                        Thread.currentThread().interrupt();
                    }
                }));
            } finally {
                Thread.interrupted();
            }
            assertEquals(List.of("vae.encoder.conv_in"), seen, "stopped before down block 0");
            assertFalse(Thread.currentThread().isInterrupted());
            assertEquals(8, vae.encode(image).mean().getShape().get(2));
        }
    }
}
