package dev.tenstep.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code tenstep train}: bad options are refused by name; a tiny run writes a loadable pipeline folder. */
class TrainCommandTest {
    static GenerateCommandTest.Run run(String... args) {
        return GenerateCommandTest.run(args);
    }

    @Test
    void badOptionsAreRefusedByName(@TempDir Path dir) {
        GenerateCommandTest.Run r = run("train", "-o", dir.resolve("m").toString(), "--sizes", "huge");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--sizes must be small or tiny, got 'huge'"), r.err());
        r = run("train", "-o", dir.resolve("m").toString(), "--caption-dropout", "1.5");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("--caption-dropout must be in [0, 1], got 1.5"), r.err());
        r = run("train", "-o", dir.resolve("m").toString(), "--data", dir.resolve("nothing").toString());
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("image folder not found: "), r.err());
    }

    @Test
    void tinyRunWritesThePipelineAndResumes(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("tiny");
        String[] args = {"train", "-o", out.toString(), "--sizes", "tiny", "--vae-steps", "2", "--unet-steps", "2",
                "--decoder-steps", "2", "--vae-batch", "2", "--unet-batch", "2", "--warmup", "1", "--checkpoint-every", "1", "--no-progress"};
        String[] stopped = java.util.Arrays.copyOf(args, args.length + 2);
        stopped[args.length] = "--stop-after";
        stopped[args.length + 1] = "3";
        GenerateCommandTest.Run r = run(stopped);
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("stopped after 3 steps; continue with --resume"), r.out());
        String[] resume = java.util.Arrays.copyOf(args, args.length + 1);
        resume[args.length] = "--resume";
        r = run(resume);
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("stage 2: UNet + text encoder, 2 steps of 2 pictures, resuming at step 2"), r.err());
        assertTrue(r.out().contains("wrote the trained pipeline to " + out.toAbsolutePath().normalize()), r.out());
        for (String f : new String[] {"model_index.json", "scheduler/scheduler_config.json", "tokenizer/vocab.json",
                "text_encoder/model.safetensors", "unet/diffusion_pytorch_model.safetensors",
                "vae/diffusion_pytorch_model.safetensors", "loss.png", "training.json", "training-log.csv"}) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
        // the header and 2 + 2 + 2 steps
        assertEquals(7, Files.readAllLines(out.resolve("training-log.csv")).size());
        assertTrue(r.err().contains("stage 3: VAE decoder on the posterior means, 2 steps of 2 pictures"), r.err());
    }
}
