package dev.tenstep.pipeline.prompt;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LoraTagsTest {

    @Test
    void tagsAreRemovedBeforeTokenisingAsA1111Does() {
        // the lora fixture's run a: the text encoded is the base prompt with a trailing space
        LoraTags.Parsed p = LoraTags.parse("a photo of an astronaut riding a horse on mars <lora:tiny-sd15-kohya:0.8>");
        assertEquals("a photo of an astronaut riding a horse on mars ", p.text());
        assertEquals(List.of(new LoraTags.Lora("tiny-sd15-kohya", 0.8, 0.8)), p.loras());
    }

    @Test
    void multipliersFollowExtraNetworksLora() {
        assertEquals(new LoraTags.Lora("x", 0.5, 1.0), LoraTags.parse("<lora:x:0.5:1>").loras().get(0));
        assertEquals(new LoraTags.Lora("x", 1.0, 1.0), LoraTags.parse("<lora:x>").loras().get(0));
        assertEquals(new LoraTags.Lora("x", 0.3, 0.7), LoraTags.parse("<lora:x:te=0.3:unet=0.7>").loras().get(0));
        assertEquals(new LoraTags.Lora("x", -0.5, -0.5), LoraTags.parse("<lora:x:-0.5>").loras().get(0));
        LoraTags.Parsed two = LoraTags.parse("<lora:a:1> cat, <lora:b:0.2> dog");
        assertEquals(" cat,  dog", two.text());
        assertEquals(List.of("a", "b"), two.loras().stream().map(LoraTags.Lora::name).toList());
        assertEquals("no tags (a:1.2)", LoraTags.parse("no tags (a:1.2)").text());
    }

    @Test
    void whatWouldChangeThePictureUnseenIsRefused() {
        assertTrue(assertThrows(PromptSyntaxException.class, () -> LoraTags.parse("<hypernet:h:1>")).getMessage()
                .contains("extra network 'hypernet' is not supported"));
        assertTrue(assertThrows(PromptSyntaxException.class, () -> LoraTags.parse("<lora:x:lots>")).getMessage()
                .contains("multiplier 'lots' is not a number"));
        assertTrue(assertThrows(PromptSyntaxException.class, () -> LoraTags.parse("<lora: :1>")).getMessage()
                .contains("names no file"));
    }
}
