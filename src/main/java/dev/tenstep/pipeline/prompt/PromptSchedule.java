package dev.tenstep.pipeline.prompt;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Prompt editing and alternation as AUTOMATIC1111 reads them ({@code get_learned_conditioning_prompt_schedules}
 * in its {@code modules/prompt_parser.py}, whose grammar this recursive-descent parser follows):
 * <ul>
 *   <li>{@code [a:b:N]}: {@code a} up to step N, then {@code b}; {@code [a:N]}: nothing, then {@code a};
 *       {@code [a::N]}: {@code a}, then nothing. N &lt; 1 is a fraction of the steps, otherwise a step number
 *       (truncated; capped at the step count). Whitespace may surround N.</li>
 *   <li>{@code [a|b|...]}: the options in turn, one per step.</li>
 *   <li>Both nest, inside each other and inside emphasis brackets; emphasis text is kept as written.</li>
 *   <li>Brackets that do not form one of these at the top level are text; a prompt that cannot be read at all
 *       (a {@code |} outside square brackets, a trailing backslash) is used unchanged for every step.</li>
 * </ul>
 * The result is a list of {@link Entry}s: the text to use up to and including step {@code endAtStep}. The
 * sampler, at 0-based step k, uses the first entry with {@code endAtStep >= k} ({@link #textAt}), as A1111's
 * CFG denoiser does.
 */
public final class PromptSchedule {
    /** lark's {@code common.SIGNED_NUMBER}, then {@code ]}. */
    private static final Pattern NUMBER_CLOSE = Pattern.compile(
            "\\s*([+-]?(?:[0-9]+\\.[0-9]*|\\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?)\\s*]");

    /** The prompt text in force up to and including step {@code endAtStep}. */
    public record Entry(long endAtStep, String text) {
    }

    private final List<Entry> entries;

    private PromptSchedule(List<Entry> entries) {
        this.entries = List.copyOf(entries);
    }

    /**
     * The schedule of a prompt for a run of {@code steps} steps.
     *
     * @param prompt the prompt with editing syntax
     * @param steps  the number of sampler steps (&gt;= 1)
     * @return the entries in increasing {@code endAtStep}; the last ends at {@code steps}
     */
    public static PromptSchedule of(String prompt, int steps) {
        Node tree = new Parser(prompt).parseTop();
        if (tree == null) {
            return new PromptSchedule(List.of(new Entry(steps, prompt)));
        }
        TreeSet<Long> ends = new TreeSet<>();
        ends.add((long) steps);
        tree.collect(steps, ends);
        List<Entry> out = new ArrayList<>();
        for (long t : ends) {
            StringBuilder b = new StringBuilder();
            tree.render(t, steps, b);
            out.add(new Entry(t, b.toString()));
        }
        return new PromptSchedule(out);
    }

    /**
     * The schedule of a prompt read with {@code syntax}: {@link #of(String, int)} for A1111 syntax,
     * {@link #constant} for plain text (brackets are literal).
     */
    public static PromptSchedule of(String prompt, int steps, PromptSyntax syntax) {
        return syntax == PromptSyntax.PLAIN ? constant(prompt, steps) : of(prompt, steps);
    }

    /** A schedule with one entry: {@code prompt} for all {@code steps} (no editing syntax). */
    public static PromptSchedule constant(String prompt, int steps) {
        return new PromptSchedule(List.of(new Entry(steps, prompt)));
    }

    /** The entries, in increasing {@code endAtStep}. */
    public List<Entry> entries() {
        return entries;
    }

    /** Whether the prompt changes during sampling. */
    public boolean isConstant() {
        return entries.size() == 1;
    }

    /** The index of the entry in force at 0-based sampler step {@code k}: the first with {@code endAtStep >= k}. */
    public int indexAt(int k) {
        for (int i = 0; i < entries.size(); i++) {
            if (k <= entries.get(i).endAtStep()) {
                return i;
            }
        }
        return entries.size() - 1;
    }

    /** The text in force at 0-based sampler step {@code k}. */
    public String textAt(int k) {
        return entries.get(indexAt(k)).text();
    }

    @Override
    public String toString() {
        return entries.toString();
    }

    // ---------------------------------------------------------------- tree

    private interface Node {
        void render(long step, int steps, StringBuilder out);

        void collect(int steps, TreeSet<Long> ends);
    }

    private record Text(String text) implements Node {
        public void render(long step, int steps, StringBuilder out) {
            out.append(text);
        }

        public void collect(int steps, TreeSet<Long> ends) {
        }
    }

    private record Seq(List<Node> nodes) implements Node {
        public void render(long step, int steps, StringBuilder out) {
            for (Node n : nodes) {
                n.render(step, steps, out);
            }
        }

        public void collect(int steps, TreeSet<Long> ends) {
            for (Node n : nodes) {
                n.collect(steps, ends);
            }
        }
    }

    /** {@code [before:after:when]}; before is null in {@code [after:when]}. */
    private record Scheduled(Seq before, Seq after, String when) implements Node {
        /** A1111's step: fractions (&lt; 1) scale by the step count; truncated toward zero; at most {@code steps}. */
        long end(int steps) {
            double v = Double.parseDouble(when);
            if (v < 1) {
                v *= steps;
            }
            return Math.min(steps, (long) v);
        }

        public void render(long step, int steps, StringBuilder out) {
            if (step <= end(steps)) {
                if (before != null) {
                    before.render(step, steps, out);
                }
            } else {
                after.render(step, steps, out);
            }
        }

        public void collect(int steps, TreeSet<Long> ends) {
            ends.add(end(steps));
            if (before != null) {
                before.collect(steps, ends);
            }
            after.collect(steps, ends);
        }
    }

    private record Alternate(List<Seq> options) implements Node {
        public void render(long step, int steps, StringBuilder out) {
            options.get((int) Math.floorMod(step - 1, (long) options.size())).render(step, steps, out);
        }

        public void collect(int steps, TreeSet<Long> ends) {
            for (long i = 1; i <= steps; i++) {
                ends.add(i);
            }
            for (Seq o : options) {
                o.collect(steps, ends);
            }
        }
    }

    // ---------------------------------------------------------------- parser

    /** Recursive descent over the grammar; null results mean "does not parse here". */
    private static final class Parser {
        private final String s;
        private int pos;

        Parser(String s) {
            this.s = s;
        }

        /** {@code start: (prompt | /[][():]/+)*}; null if some character fits nowhere. */
        Node parseTop() {
            List<Node> nodes = new ArrayList<>();
            StringBuilder text = new StringBuilder();
            while (pos < s.length()) {
                char c = s.charAt(pos);
                if (c == '(' || c == '[') {
                    int start = pos;
                    Node n = construct();
                    if (n != null) {
                        flush(text, nodes);
                        nodes.add(n);
                        continue;
                    }
                    pos = start + 1;
                    text.append(c);
                } else if (c == ')' || c == ']' || c == ':') {
                    text.append(c);
                    pos++;
                } else if (c == '|') {
                    return null;
                } else if (c == '\\') {
                    if (pos + 1 >= s.length() || s.charAt(pos + 1) == '\n') {
                        return null;
                    }
                    text.append(s, pos, pos + 2);
                    pos += 2;
                } else {
                    text.append(c);
                    pos++;
                }
            }
            flush(text, nodes);
            return new Seq(nodes);
        }

        private static void flush(StringBuilder text, List<Node> nodes) {
            if (!text.isEmpty()) {
                nodes.add(new Text(text.toString()));
                text.setLength(0);
            }
        }

        /**
         * {@code prompt: (emphasized | scheduled | alternate | plain | WHITESPACE)*}: stops before {@code ] ) : |},
         * the end, or a backslash with nothing to escape; null if a bracket inside does not close properly.
         */
        Seq prompt() {
            List<Node> nodes = new ArrayList<>();
            StringBuilder text = new StringBuilder();
            while (pos < s.length()) {
                char c = s.charAt(pos);
                if (c == ']' || c == ')' || c == ':' || c == '|') {
                    break;
                } else if (c == '(' || c == '[') {
                    Node n = construct();
                    if (n == null) {
                        return null;
                    }
                    flush(text, nodes);
                    nodes.add(n);
                } else if (c == '\\') {
                    if (pos + 1 >= s.length() || s.charAt(pos + 1) == '\n') {
                        break;
                    }
                    text.append(s, pos, pos + 2);
                    pos += 2;
                } else {
                    text.append(c);
                    pos++;
                }
            }
            flush(text, nodes);
            return new Seq(nodes);
        }

        private boolean accept(char c) {
            if (pos < s.length() && s.charAt(pos) == c) {
                pos++;
                return true;
            }
            return false;
        }

        /** A bracket construct at {@code pos} ('(' or '['); on failure returns null (pos undefined). */
        Node construct() {
            char open = s.charAt(pos++);
            Seq first = prompt();
            if (first == null) {
                return null;
            }
            if (open == '(') {
                if (accept(')')) {
                    return emphasized("(", first, ")");
                }
                if (accept(':')) {
                    Seq second = prompt();
                    if (second != null && accept(')')) {
                        return new Seq(List.of(new Text("("), first, new Text(":"), second, new Text(")")));
                    }
                }
                return null;
            }
            if (accept(']')) {
                return emphasized("[", first, "]");
            }
            if (accept('|')) {
                List<Seq> options = new ArrayList<>();
                options.add(first);
                while (true) {
                    Seq next = prompt();
                    if (next == null) {
                        return null;
                    }
                    options.add(next);
                    if (accept(']')) {
                        return new Alternate(options);
                    }
                    if (!accept('|')) {
                        return null;
                    }
                }
            }
            if (accept(':')) {
                String when = numberClose();
                if (when != null) {
                    return new Scheduled(null, first, when);
                }
                Seq second = prompt();
                if (second != null && accept(':')) {
                    when = numberClose();
                    if (when != null) {
                        return new Scheduled(first, second, when);
                    }
                }
            }
            return null;
        }

        private static Node emphasized(String open, Seq inner, String close) {
            return new Seq(List.of(new Text(open), inner, new Text(close)));
        }

        /** {@code [WHITESPACE] NUMBER [WHITESPACE] "]"} at pos: the number's text, pos after the bracket. */
        private String numberClose() {
            Matcher m = NUMBER_CLOSE.matcher(s).region(pos, s.length());
            if (m.lookingAt()) {
                pos = m.end();
                return m.group(1);
            }
            return null;
        }
    }
}
