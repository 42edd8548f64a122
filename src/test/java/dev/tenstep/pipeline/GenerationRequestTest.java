package dev.tenstep.pipeline;

import dev.tenstep.pipeline.prompt.PromptSyntax;
import dev.tenstep.sampling.SamplerKind;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Request validation that needs no model: prompts the A1111 syntax cannot read are field errors, found before queueing. */
class GenerationRequestTest {
    private static GenerationRequest request(String prompt, String negative, PromptSyntax syntax) {
        return new GenerationRequest(prompt, negative, 10, 7.5, 1, SamplerKind.GE, null, null, 64, 64, syntax, null, null);
    }

    @Test
    void unreadableEmphasisIsAFieldErrorOfItsPrompt() {
        List<FieldError> e = request("a (red:1.2.3) apple", "", null).validate(8, 1000);
        assertEquals(List.of(new FieldError("prompt", "emphasis weight '1.2.3' in '(...:1.2.3)' is not a number "
                + "(write e.g. (word:1.2), or \\( \\) for literal brackets)")), e);
        // inside prompt editing, in the text used from step 5 on
        e = request("a cat", "[blurry:(ugly:1.5.5):0.5]", PromptSyntax.A1111).validate(8, 1000);
        assertEquals(1, e.size());
        assertEquals("negative_prompt", e.get(0).field());
        assertEquals("emphasis weight '1.5.5' in '(...:1.5.5)' is not a number (write e.g. (word:1.2), or \\( \\) "
                + "for literal brackets)", e.get(0).message());
    }

    @Test
    void plainSyntaxAndValidEmphasisPass() {
        assertEquals(List.of(), request("a (red:1.2.3) apple", "", PromptSyntax.PLAIN).validate(8, 1000));
        assertEquals(List.of(), request("a ((red)) [apple], (big:1.5) [cat:dog:0.5] BREAK sky", "(blurry)", null)
                .validate(8, 1000));
    }

    /** Gamma is GE's alone: given to another sampler (even as 1) it is refused, not ignored; none is recorded. */
    @Test
    void gammaIsRefusedForSamplersWithoutOne() {
        for (SamplerKind k : List.of(SamplerKind.DDIM, SamplerKind.DDPM, SamplerKind.DPMPP_2M)) {
            GenerationRequest r = new GenerationRequest("x", "", 10, 7.5, 1, k, null, 1.0, null, null);
            List<FieldError> errors = r.validate(8, 1000);
            assertEquals(List.of("gamma"), errors.stream().map(FieldError::field).toList(), k.id());
            assertEquals(k.displayName() + " has no gradient-estimation weight; leave gamma unset (got 1.0)",
                    errors.get(0).message());
            assertEquals(null, new GenerationRequest("x", "", 10, 7.5, 1, k, null, null, null, null)
                    .resolved(1, 64, 64, ModelDefaults.SD).gamma());
        }
        assertEquals(2.0, GenerationRequest.of("x").resolved(1, 64, 64, ModelDefaults.SD).gamma());
        assertEquals(List.of(), new GenerationRequest("x", "", 10, 7.5, 1, SamplerKind.GE, null, 1.0, null, null)
                .validate(8, 1000));
    }
}
