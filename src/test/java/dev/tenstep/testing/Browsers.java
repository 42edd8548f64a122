package dev.tenstep.testing;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Finds the Chromium (or Chrome) binary and its chromedriver for the real-browser tests: the
 * environment variables {@code CHROME_BIN} and {@code CHROMEDRIVER} first, then the commands on
 * {@code PATH} ({@code chromium}, {@code chromium-browser}, {@code google-chrome}, {@code chrome};
 * {@code chromedriver}), then the usual install places of macOS and Windows.
 */
public final class Browsers {
    private Browsers() {
    }

    /** A browser binary and its driver. */
    public record Found(Path browser, Path driver) {
    }

    /**
     * The browser and driver, or a one-line message naming what is missing and how to install it
     * (thrown as {@link IllegalStateException}).
     */
    public static Found find() {
        Optional<Path> browser = first("CHROME_BIN", List.of("chromium", "chromium-browser", "google-chrome",
                "google-chrome-stable", "chrome"), List.of(
                "/Applications/Chromium.app/Contents/MacOS/Chromium",
                "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
                programFiles("Google/Chrome/Application/chrome.exe"),
                programFiles("Chromium/Application/chrome.exe")));
        Optional<Path> driver = first("CHROMEDRIVER", List.of("chromedriver"), List.of(
                "/opt/homebrew/bin/chromedriver", "/usr/local/bin/chromedriver",
                programFiles("chromedriver/chromedriver.exe")));
        List<String> missing = new ArrayList<>();
        browser.ifPresentOrElse(p -> { }, () -> missing.add("Chromium or Chrome (CHROME_BIN, or chromium on PATH)"));
        driver.ifPresentOrElse(p -> { }, () -> missing.add("chromedriver (CHROMEDRIVER, or chromedriver on PATH)"));
        if (!missing.isEmpty()) {
            throw new IllegalStateException("the browser test needs " + String.join(" and ", missing)
                    + ": on Debian/Ubuntu `apt-get install chromium chromium-driver` (./tenstep test does this as root),"
                    + " on macOS `brew install --cask chromium chromedriver`");
        }
        return new Found(browser.get(), driver.get());
    }

    private static String programFiles(String rest) {
        String pf = System.getenv("ProgramFiles");
        return pf == null ? "" : pf + File.separator + rest.replace('/', File.separatorChar);
    }

    private static Optional<Path> first(String envVar, List<String> commands, List<String> places) {
        String env = System.getenv(envVar);
        if (env != null && !env.isBlank() && Files.isExecutable(Path.of(env))) {
            return Optional.of(Path.of(env));
        }
        String path = System.getenv("PATH");
        boolean windows = File.separatorChar == '\\';
        if (path != null) {
            for (String dir : path.split(File.pathSeparator)) {
                for (String c : commands) {
                    for (String name : windows ? List.of(c + ".exe", c) : List.of(c)) {
                        Path p = Path.of(dir.isEmpty() ? "." : dir, name);
                        if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                            return Optional.of(p);
                        }
                    }
                }
            }
        }
        return places.stream().filter(s -> !s.isEmpty()).map(Path::of).filter(Files::isExecutable).findFirst();
    }
}
