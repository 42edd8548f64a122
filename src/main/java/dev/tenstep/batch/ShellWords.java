package dev.tenstep.batch;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits a line into words the way a POSIX shell (and Python's {@code shlex.split}, which A1111's
 * "prompts from file" uses) does: whitespace separates words; {@code '...'} is literal;
 * {@code "..."} keeps spaces and lets a backslash escape {@code " \ $ `}; outside quotes a
 * backslash escapes any character; quoted and unquoted parts next to each other form one word
 * ({@code a"b c"d} is {@code ab cd}); {@code ""} is an empty word. {@code #} is an ordinary
 * character, as in {@code shlex.split}.
 *
 * <p>Written here rather than taken from commons-text: its {@code StringTokenizer} escapes a quote
 * by doubling it and knows no backslash escapes, so A1111 lines such as
 * {@code --prompt "a \"quoted\" word"} would split differently.
 */
public final class ShellWords {
    private ShellWords() {
    }

    /**
     * The words of {@code line}.
     *
     * @throws IllegalArgumentException for an unterminated quote or a trailing backslash, naming the column
     */
    public static List<String> split(String line) {
        List<String> words = new ArrayList<>();
        StringBuilder word = new StringBuilder();
        boolean inWord = false;
        int i = 0;
        int n = line.length();
        while (i < n) {
            char c = line.charAt(i);
            if (Character.isWhitespace(c)) {
                if (inWord) {
                    words.add(word.toString());
                    word.setLength(0);
                    inWord = false;
                }
                i++;
            } else if (c == '\'') {
                int end = line.indexOf('\'', i + 1);
                if (end < 0) {
                    throw new IllegalArgumentException("unterminated single quote at column " + (i + 1));
                }
                word.append(line, i + 1, end);
                inWord = true;
                i = end + 1;
            } else if (c == '"') {
                int start = i;
                i++;
                boolean closed = false;
                while (i < n) {
                    char d = line.charAt(i);
                    if (d == '"') {
                        closed = true;
                        i++;
                        break;
                    }
                    if (d == '\\' && i + 1 < n && "\"\\$`".indexOf(line.charAt(i + 1)) >= 0) {
                        word.append(line.charAt(i + 1));
                        i += 2;
                    } else {
                        word.append(d);
                        i++;
                    }
                }
                if (!closed) {
                    throw new IllegalArgumentException("unterminated double quote at column " + (start + 1));
                }
                inWord = true;
            } else if (c == '\\') {
                if (i + 1 >= n) {
                    throw new IllegalArgumentException("trailing backslash at column " + (i + 1));
                }
                word.append(line.charAt(i + 1));
                inWord = true;
                i += 2;
            } else {
                word.append(c);
                inWord = true;
                i++;
            }
        }
        if (inWord) {
            words.add(word.toString());
        }
        return words;
    }
}
