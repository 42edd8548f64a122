package dev.tenstep.cli;

import java.io.Console;
import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/**
 * Whether a progress bar may be drawn: the bar redraws itself with carriage returns on standard
 * error, which is only readable on a terminal. Redirected output (a log file, a pipe, CI) gets plain
 * lines instead.
 */
public final class Terminals {
    private static final Path STDERR_FD = Path.of("/proc/self/fd/2");

    private Terminals() {
    }

    /**
     * Whether standard error is (as far as Java can tell) a terminal. {@link System#console()} is
     * null when standard input or output is redirected; on Java 22+ it exists even then, so
     * {@code Console.isTerminal()} is asked too. Neither looks at standard error itself, so where
     * {@code /proc} shows it (Linux) it must also be a terminal device, which catches {@code 2>log}.
     */
    public static boolean stderrIsTerminal() {
        Console console = System.console();
        if (console == null) {
            return false;
        }
        try {
            Method isTerminal = Console.class.getMethod("isTerminal");
            if (!(Boolean) isTerminal.invoke(console)) {
                return false;
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            // Java < 22: a non-null console already means a terminal
        }
        if (Files.exists(STDERR_FD, LinkOption.NOFOLLOW_LINKS)) {
            try {
                return isTerminalDevice(Files.readSymbolicLink(STDERR_FD).toString());
            } catch (IOException | UnsupportedOperationException e) {
                return true;
            }
        }
        return true;
    }

    /** Whether the target of a {@code /proc/self/fd} link is a terminal device (not a file or {@code pipe:[n]}). */
    static boolean isTerminalDevice(String target) {
        return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty") || target.equals("/dev/console");
    }
}
