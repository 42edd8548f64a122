package dev.tenstep.pipeline.prompt;

import dev.tenstep.pipeline.TextToImage;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.model.clip.ClipTokenizer;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.GenerationResult;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import dev.tenstep.sampling.RngKind;
import dev.tenstep.sampling.TorchCpuRandom;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Long prompts in 75-token chunks, A1111 emphasis, prompt editing per sampler step, clip skip and the RNG choice,
 * on the tiny SD 1.5 fixture pipeline.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class A1111ConditioningTest {
    /** 30 distinct words, 5 times: 150 single-token words. */
    static final String LONG;

    static {
        List<String> words = new ArrayList<>();
        String[] base = ("red green blue cat dog house tree car sun moon star sky sea hill road bird fish rock "
                + "wood snow rain city lake boat door book lamp cup hat shoe").split(" ");
        for (int i = 0; i < 5; i++) {
            words.addAll(Arrays.asList(base));
        }
        LONG = String.join(" ", words);
    }

    private StableDiffusionPipeline p;
    private NDManager manager;

    @BeforeAll
    void load() {
        p = StableDiffusionPipeline.load(Fixtures.dir(Fixtures.SD15));
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    void close() {
        p.close();
        manager.close();
    }

    @Test
    void longPromptIsTwoChunksOf75() {
        PromptChunks c = p.promptEncoder().chunks(LONG, PromptSyntax.A1111);
        assertEquals(150, p.tokenizer().tokenize(LONG).length);
        assertEquals(2, c.chunks());
        assertEquals(150, c.tokenCount());
        ClipTokenizer t = p.tokenizer();
        for (long[] ids : c.ids()) {
            assertEquals(77, ids.length);
            assertEquals(t.bosId(), ids[0]);
            assertEquals(t.eosId(), ids[76]);
        }
        long[] all = t.tokenize(LONG);
        assertArrayEquals(Arrays.copyOfRange(all, 0, 75), Arrays.copyOfRange(c.ids().get(0), 1, 76));
        assertArrayEquals(Arrays.copyOfRange(all, 75, 150), Arrays.copyOfRange(c.ids().get(1), 1, 76));
        assertEquals("150/150", PromptEncoder.countLabel(c));
    }

    @Test
    void fullChunkBreaksAfterTheLastCommaWithin20Tokens() {
        // 70 words, a comma, 10 words: the 76th token would overflow; the comma is 11 back, so the 10 words move
        List<String> w = new ArrayList<>(Collections.nCopies(70, "cat"));
        w.set(69, "cat,");
        w.addAll(Collections.nCopies(10, "dog"));
        PromptChunks c = p.promptEncoder().chunks(String.join(" ", w), PromptSyntax.A1111);
        assertEquals(2, c.chunks());
        long comma = p.tokenizer().tokenize(",")[0];
        long dog = p.tokenizer().tokenize("dog")[0];
        assertEquals(comma, c.ids().get(0)[71]);
        assertEquals(p.tokenizer().eosId(), c.ids().get(0)[72]);
        for (int i = 1; i <= 10; i++) {
            assertEquals(dog, c.ids().get(1)[i]);
        }
        assertEquals(75 + 10, c.tokenCount());
        // no comma in the last 20 tokens: a hard cut at 75
        PromptChunks hard = p.promptEncoder().chunks(String.join(" ", Collections.nCopies(80, "cat")), PromptSyntax.A1111);
        assertEquals(2, hard.chunks());
        assertEquals(p.tokenizer().tokenize("cat")[0], hard.ids().get(0)[75]);
    }

    @Test
    void breakStartsAChunkOnlyInA1111Syntax() {
        assertEquals(2, p.promptEncoder().chunks("a cat BREAK a dog", PromptSyntax.A1111).chunks());
        assertEquals(1, p.promptEncoder().chunks("a cat BREAK a dog", PromptSyntax.PLAIN).chunks());
        assertEquals(1, p.promptEncoder().chunks("", PromptSyntax.A1111).chunks());
        // plain: brackets are tokens
        PromptChunks plain = p.promptEncoder().chunks("a (red:1.5) apple", PromptSyntax.PLAIN);
        assertTrue(plain.unweighted());
        assertTrue(plain.tokenCount() > 3);
        PromptChunks a1111 = p.promptEncoder().chunks("a (red:1.5) apple", PromptSyntax.A1111);
        assertEquals(3, a1111.tokenCount());
        assertEquals(1.5f, a1111.weights().get(0)[2]);
    }

    @Test
    void unitWeightsAreBitIdenticalToThePlainPath() {
        String prompt = "a photo of an astronaut riding a horse on mars";
        try (NDManager m = manager.newSubManager()) {
            long[] ids = p.tokenizer().encode(prompt).ids();
            float[] plain = p.textEncoder().forward(m.create(ids, new Shape(1, 77))).toFloatArray();
            for (String s : List.of(prompt, "a photo of an (astronaut:1) riding a horse on mars")) {
                PromptEncoder.Encoded e = p.promptEncoder().encode(m, s, PromptSyntax.A1111, 1);
                assertEquals(1, e.chunks());
                assertArrayEquals(plain, e.data(), s);
            }
            assertArrayEquals(plain, p.promptEncoder().encode(m, prompt, PromptSyntax.PLAIN, 1).data());
        }
    }

    @Test
    void emphasisScalesTokensAndKeepsTheMean() {
        try (NDManager m = manager.newSubManager()) {
            PromptEncoder.Encoded plain = p.promptEncoder().encode(m, "a red apple", PromptSyntax.A1111, 1);
            PromptEncoder.Encoded heavy = p.promptEncoder().encode(m, "a (red:1.5) apple", PromptSyntax.A1111, 1);
            int d = plain.dim();
            double meanPlain = 0;
            double meanHeavy = 0;
            for (int i = 0; i < plain.data().length; i++) {
                meanPlain += plain.data()[i];
                meanHeavy += heavy.data()[i];
            }
            assertEquals(meanPlain / plain.data().length, meanHeavy / heavy.data().length, 1e-6);
            // z'' = z * w * (mean z / mean z w): token 2 ("red") is 1.5 times the factor, token 1 once
            double factor = heavy.data()[d] / plain.data()[d];
            for (int j = 0; j < d; j++) {
                assertEquals(factor, heavy.data()[d + j] / plain.data()[d + j], 1e-4, "token 1 dim " + j);
                assertEquals(1.5 * factor, heavy.data()[2 * d + j] / plain.data()[2 * d + j], 1e-4, "token 2 dim " + j);
            }
            assertNotEquals(1.0, factor, 1e-7);
        }
    }

    @Test
    void clipSkipIsAnEarlierLayerThenTheFinalLayerNorm() {
        try (NDManager m = manager.newSubManager()) {
            long[] ids = p.tokenizer().encode("a cat").ids();
            NDArray input = m.create(ids, new Shape(1, 77));
            Map<String, NDArray> inter = new HashMap<>();
            p.textEncoder().forward(input, inter);
            // 3 layers: clip skip 2 = output of layer index 1, clip skip 3 = of layer index 0
            float[] expected2 = p.textEncoder().finalLayerNorm.forward(inter.get("text_encoder.layers.1")).toFloatArray();
            float[] expected3 = p.textEncoder().finalLayerNorm.forward(inter.get("text_encoder.layers.0")).toFloatArray();
            assertArrayEquals(expected2, p.textEncoder().forward(input, 2).toFloatArray());
            assertArrayEquals(expected3, p.textEncoder().forward(input, 3).toFloatArray());
            assertArrayEquals(p.textEncoder().forward(input).toFloatArray(), p.textEncoder().forward(input, 1).toFloatArray());
            assertThrows(IllegalArgumentException.class, () -> p.textEncoder().forward(input, 4));
        }
        GenerationRequest r = small("a cat").withText(null, 2, null);
        GenerationResult res = p.generate(r);
        assertTrue(res.infotext().contains("Clip skip: 2"), res.infotext());
        assertFalse(Arrays.equals(res.finalLatents(), p.generate(small("a cat")).finalLatents()));
        var e = assertThrows(dev.tenstep.pipeline.InvalidRequestException.class,
                () -> p.generate(small("a cat").withText(null, 5, null)));
        assertTrue(e.getMessage().contains("clip_skip"), e.getMessage());
    }

    @Test
    void longPromptImageDiffersFromItsPrefixAndIsNotTruncated() {
        String prefix = String.join(" ", Arrays.asList(LONG.split(" ")).subList(0, 75));
        GenerationResult full = p.generate(small(LONG));
        GenerationResult cut = p.generate(small(prefix));
        assertFalse(Arrays.equals(full.finalLatents(), cut.finalLatents()));
        assertEquals(1, full.warnings().size(), full.warnings().toString());
        assertTrue(full.warnings().get(0).contains("2 chunks"), full.warnings().toString());
        assertTrue(cut.warnings().isEmpty());
        // a long negative prompt pads the prompt with empty chunks: still runs, and changes the image
        GenerationResult longNeg = p.generate(new GenerationRequest("a cat", LONG, 2, 7.5, 1, dev.tenstep.sampling.SamplerKind.DDIM, null, null, 64, 64));
        assertEquals(1, longNeg.warnings().size());
    }

    @Test
    void promptEditingSwitchesAtTheRightStepForBothBranches() {
        List<String> ids = new ArrayList<>();
        GenerationRequest r = new GenerationRequest("a [dog:cat:2]", "[ugly|blurry]", 5, 7.5, 3, dev.tenstep.sampling.SamplerKind.DDIM, null, null, 64, 64);
        GenerationResult res = p.generate(p.resolve(r), null, TextToImage.Options.DEFAULT.withListener(s -> {
            ids.add(s.conditioning());
            return true;
        }));
        // A1111: 0-based step k uses the first entry ending at or after k; [dog:cat:2] ends "dog" at 2 (steps 0-2);
        // the alternation's entries end at 1, 2, 3, 4, 5: ugly, ugly, blurry, ugly, blurry
        assertEquals(List.of("p0/n0", "p0/n0", "p0/n1", "p1/n2", "p1/n3"), ids);
        PromptSchedule neg = PromptSchedule.of("[ugly|blurry]", 5);
        assertEquals(List.of("ugly", "ugly", "blurry", "ugly", "blurry"),
                List.of(neg.textAt(0), neg.textAt(1), neg.textAt(2), neg.textAt(3), neg.textAt(4)));
        GenerationResult dogOnly = p.generate(new GenerationRequest("a dog", "[ugly|blurry]", 5, 7.5, 3, dev.tenstep.sampling.SamplerKind.DDIM, null, null, 64, 64));
        assertFalse(Arrays.equals(res.finalLatents(), dogOnly.finalLatents()));
        // plain syntax: no editing, brackets literal
        List<String> plainIds = new ArrayList<>();
        p.generate(p.resolve(r.withText(PromptSyntax.PLAIN, null, null)), null, TextToImage.Options.DEFAULT.withListener(s -> {
            plainIds.add(s.conditioning());
            return true;
        }));
        assertEquals(Collections.nCopies(5, "p0/n0"), plainIds);
    }

    @Test
    void rngChoiceDrawsTheTorchNumbers() {
        int n = 4 * 16 * 16; // tiny-sd15: 64 px = 16 latent px (VAE scale 4)
        GenerationResult cpu = p.generate(small("a cat").withText(null, null, RngKind.TORCH_CPU));
        assertArrayEquals(new TorchCpuRandom(1).randn(n), cpu.initialLatents());
        assertTrue(cpu.infotext().contains("RNG: CPU"), cpu.infotext());
        GenerationResult philox = p.generate(small("a cat"));
        assertArrayEquals(new dev.tenstep.sampling.PhiloxRandom(1).randn(n), philox.initialLatents());
        assertFalse(philox.infotext().contains("RNG"), philox.infotext());
        GenerationResult own = p.generate(small("a cat").withText(null, null, RngKind.TENSTEP));
        assertTrue(own.infotext().contains("RNG: tenstep"), own.infotext());
        assertFalse(Arrays.equals(own.initialLatents(), philox.initialLatents()));
    }

    /** 64x64 (latent 8x8), 2 DDIM steps, seed 1. */
    static GenerationRequest small(String prompt) {
        return new GenerationRequest(prompt, "", 2, 7.5, 1, dev.tenstep.sampling.SamplerKind.DDIM, null, null, 64, 64);
    }
}
