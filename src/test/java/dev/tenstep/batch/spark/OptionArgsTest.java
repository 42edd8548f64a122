package dev.tenstep.batch.spark;

import dev.tenstep.batch.GenerationOptions;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The batch defaults survive the trip to the executors as words. */
class OptionArgsTest {
    @Test
    void defaultsParseBackToTheSameRequest() {
        GenerationOptions d = new GenerationOptions();
        d.prompt = "--not an option";
        d.negativePrompt = "a=b, -c";
        d.steps = 3;
        d.cfgScale = 4.5;
        d.seed = -1;
        d.sampler = "ddim";
        d.width = 48;
        d.gamma = 2.5;
        d.clipSkip = 2;
        d.rng = "torch-cpu";
        d.promptSyntax = "plain";
        GenerationOptions back = OptionArgs.parse(OptionArgs.of(d));
        assertEquals(d.toRequest(), back.toRequest());
        assertEquals(-1, back.seed);
        assertEquals(new GenerationOptions().toRequest(), OptionArgs.parse(OptionArgs.of(new GenerationOptions())).toRequest());
    }
}
