package dev.tenstep.sampling.ideal;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The unbounded shapes stream: reproducible from its seed, captions over the grammar, pictures that show them. */
class ShapesGeneratorTest {
    private static final Pattern CAPTION = Pattern.compile(
            "a (?:(small|large) )?(\\w+) (circle|square|triangle|star)(?: on a (\\w+)( gradient)? background)?(?:, (.+))?");

    @Test
    void sameSeedSameExamplesAndCaptionsFollowTheGrammar() {
        ShapesGenerator g = new ShapesGenerator(true);
        SplittableRandom a = new SplittableRandom(5);
        SplittableRandom b = new SplittableRandom(5);
        Set<String> captions = new HashSet<>();
        int partial = 0;
        for (int i = 0; i < 300; i++) {
            ShapesGenerator.Example x = g.next(a);
            ShapesGenerator.Example y = g.next(b);
            assertEquals(x.caption(), y.caption());
            assertArrayEquals(x.image(), y.image());
            assertEquals(3 * 64 * 64, x.image().length);
            captions.add(x.caption());
            Matcher m = CAPTION.matcher(x.caption());
            assertTrue(m.matches(), x.caption());
            String colour = m.group(2);
            assertTrue(ShapesDataSet.SHAPE_COLOURS.contains(colour), x.caption());
            if (m.group(4) != null) {
                assertTrue(ShapesDataSet.BACKGROUND_COLOURS.contains(m.group(4)), x.caption());
            }
            if (m.group(6) != null) {
                assertTrue(ShapesDataSet.POSITIONS.contains(m.group(6)), x.caption());
            }
            if (m.group(1) == null || m.group(4) == null || m.group(6) == null) {
                partial++;
            }
            // the named shape colour is drawn: some pixel has exactly its palette value
            int[] rgb = ShapesDataSet.PALETTE.get(colour);
            boolean found = false;
            for (int p = 0; p < 64 * 64 && !found; p++) {
                found = Math.round((x.image()[p] + 1) * 127.5) == rgb[0]
                        && Math.round((x.image()[4096 + p] + 1) * 127.5) == rgb[1]
                        && Math.round((x.image()[8192 + p] + 1) * 127.5) == rgb[2];
            }
            assertTrue(found, "no " + colour + " pixel in \"" + x.caption() + "\"");
        }
        // about half the captions leave a part out (1 - 0.8^3), and the stream is not a small fixed set
        assertTrue(partial > 100 && partial < 200, partial + " partial captions of 300");
        assertTrue(captions.size() > 200, captions.size() + " distinct captions of 300");
    }
}
