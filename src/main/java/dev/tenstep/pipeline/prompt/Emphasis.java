package dev.tenstep.pipeline.prompt;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The emphasis syntax of AUTOMATIC1111's prompts ({@code parse_prompt_attention} in its
 * {@code modules/prompt_parser.py}): splits a prompt into text fragments with attention weights.
 * <ul>
 *   <li>{@code (x)} multiplies the weight of x by 1.1, {@code [x]} divides it by 1.1, {@code (x:w)} multiplies it
 *       by w (a decimal number, sign allowed); nesting multiplies;</li>
 *   <li>{@code \(} {@code \)} {@code \[} {@code \]} {@code \\} are the literal characters; a lone backslash is dropped;</li>
 *   <li>a bracket never closed applies to the rest of the prompt; a closing bracket never opened is text;</li>
 *   <li>{@code BREAK} as a whole word (with the whitespace around it) becomes a {@link Fragment#isBreak() break}
 *       fragment (weight -1), which starts a new 75-token chunk;</li>
 *   <li>adjacent fragments of exactly equal weight are merged.</li>
 * </ul>
 * Weights are doubles multiplied in the same order as A1111 multiplies them, so they equal its values bit for bit.
 */
public final class Emphasis {
    /** One alternative per token kind, in A1111's order: escapes, brackets, {@code :w)}, text, a lone colon. */
    private static final Pattern TOKEN = Pattern.compile(
            "\\\\\\(|\\\\\\)|\\\\\\[|\\\\]|\\\\\\\\|\\\\|\\(|\\[|:\\s*([+-]?[.\\d]+)\\s*\\)|\\)|]|[^\\\\()\\[\\]:]+|:",
            Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern BREAK = Pattern.compile("\\s*\\bBREAK\\b\\s*", Pattern.UNICODE_CHARACTER_CLASS);
    private static final double ROUND = 1.1;
    private static final double SQUARE = 1 / 1.1;

    private Emphasis() {
    }

    /** A piece of prompt text and its attention weight; {@code ("BREAK", -1)} marks a chunk break. */
    public record Fragment(String text, double weight) {
        /** Whether this is a {@code BREAK} marker. */
        public boolean isBreak() {
            return weight == -1 && text.equals("BREAK");
        }
    }

    /**
     * Parses the emphasis of one prompt.
     *
     * @param text a prompt (after prompt editing has been resolved for a step)
     * @return at least one fragment; {@code [("", 1.0)]} for an empty prompt
     * @throws PromptSyntaxException if a weight is not a number (e.g. {@code (x:1.2.3)}), naming it
     */
    public static List<Fragment> parse(String text) {
        List<String> texts = new ArrayList<>();
        List<Double> weights = new ArrayList<>();
        List<Integer> round = new ArrayList<>();
        List<Integer> square = new ArrayList<>();
        Matcher m = TOKEN.matcher(text);
        while (m.find()) {
            String tok = m.group();
            String weight = m.group(1);
            if (tok.startsWith("\\")) {
                texts.add(tok.substring(1));
                weights.add(1.0);
            } else if (tok.equals("(")) {
                round.add(texts.size());
            } else if (tok.equals("[")) {
                square.add(texts.size());
            } else if (weight != null && !round.isEmpty()) {
                multiply(weights, round.remove(round.size() - 1), number(weight, tok));
            } else if (tok.equals(")") && !round.isEmpty()) {
                multiply(weights, round.remove(round.size() - 1), ROUND);
            } else if (tok.equals("]") && !square.isEmpty()) {
                multiply(weights, square.remove(square.size() - 1), SQUARE);
            } else {
                String[] parts = BREAK.split(tok, -1);
                for (int i = 0; i < parts.length; i++) {
                    if (i > 0) {
                        texts.add("BREAK");
                        weights.add(-1.0);
                    }
                    texts.add(parts[i]);
                    weights.add(1.0);
                }
            }
        }
        for (int pos : round) {
            multiply(weights, pos, ROUND);
        }
        for (int pos : square) {
            multiply(weights, pos, SQUARE);
        }
        if (texts.isEmpty()) {
            return List.of(new Fragment("", 1.0));
        }
        List<Fragment> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder(texts.get(0));
        double w = weights.get(0);
        for (int i = 1; i < texts.size(); i++) {
            if (weights.get(i) == w) {
                cur.append(texts.get(i));
            } else {
                out.add(new Fragment(cur.toString(), w));
                cur = new StringBuilder(texts.get(i));
                w = weights.get(i);
            }
        }
        out.add(new Fragment(cur.toString(), w));
        return out;
    }

    /** Whether the prompt uses any emphasis or BREAK (i.e. parses to something other than one weight-1 fragment of itself). */
    public static boolean isPlain(String text) {
        List<Fragment> f = parse(text);
        return f.size() == 1 && f.get(0).weight() == 1.0 && f.get(0).text().equals(text);
    }

    private static void multiply(List<Double> weights, int from, double factor) {
        for (int p = from; p < weights.size(); p++) {
            weights.set(p, weights.get(p) * factor);
        }
    }

    /** A weight as Python's {@code float()} reads it (Unicode decimal digits included). */
    private static double number(String s, String token) {
        StringBuilder b = new StringBuilder();
        s.codePoints().forEach(c -> {
            int d = Character.digit(c, 10);
            b.append(d >= 0 && c != '.' ? (char) ('0' + d) : (char) c);
        });
        try {
            return Double.parseDouble(b.toString());
        } catch (NumberFormatException e) {
            throw new PromptSyntaxException("prompt: emphasis weight '" + s + "' in '(..." + token
                    + "' is not a number (write e.g. (word:1.2), or \\( \\) for literal brackets)");
        }
    }
}
