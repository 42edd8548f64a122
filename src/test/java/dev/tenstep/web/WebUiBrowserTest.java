package dev.tenstep.web;

import dev.tenstep.pipeline.DemoPipeline;
import dev.tenstep.pipeline.IdealPipeline;
import dev.tenstep.sampling.ideal.IdealModels;
import dev.tenstep.sampling.ideal.ShapesDataSet;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import io.javalin.Javalin;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Real browser: headless Chromium driven by Selenium through the system's chromedriver (nothing
 * is downloaded). Serves the demo pipeline (written to a temp folder), submits the form, waits for
 * the image, runs /compare until both panels finish, and saves screenshots in target/screenshots/.
 * Fails (never skips) when Chromium is not installed.
 */
class WebUiBrowserTest {
    private static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    private static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    private static final Path SHOTS = Path.of("target/screenshots");

    @TempDir
    static Path tmp;

    private static StableDiffusionPipeline pipeline;
    private static JobQueue queue;
    private static Javalin app;
    private static WebDriver driver;
    private static String base;

    @BeforeAll
    static void start() throws Exception {
        if (!Files.isExecutable(CHROMIUM) || !Files.isExecutable(CHROMEDRIVER)) {
            fail("the browser test needs Chromium and its driver at " + CHROMIUM + " and " + CHROMEDRIVER
                    + ": install them with `apt-get install -y chromium chromium-driver` (.ci/run does this on CI)");
        }
        Path demo = DemoPipeline.create(tmp.resolve("models/demo"), DemoPipeline.DEFAULT_SEED);
        pipeline = StableDiffusionPipeline.load(demo);
        OutputStore store = new OutputStore(tmp.resolve("outputs"));
        queue = new JobQueue(Generator.of(pipeline), store, 1, 16);
        app = WebApp.create(queue, store).start("127.0.0.1", 0);
        base = "http://127.0.0.1:" + app.port();

        System.setProperty("SE_AVOID_STATS", "true");
        System.setProperty("webdriver.chrome.driver", CHROMEDRIVER.toString());
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage", "--window-size=1280,1100");
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(CHROMEDRIVER.toFile()).usingAnyFreePort().build();
        driver = new ChromeDriver(service, options);
        Files.createDirectories(SHOTS);
    }

    @AfterAll
    static void stop() {
        if (driver != null) {
            driver.quit();
        }
        if (app != null) {
            app.stop();
        }
        if (queue != null) {
            queue.close();
        }
        if (pipeline != null) {
            pipeline.close();
        }
    }

    private static void screenshot(String name) throws Exception {
        File f = ((TakesScreenshot) driver).getScreenshotAs(OutputType.FILE);
        Files.copy(f.toPath(), SHOTS.resolve(name), StandardCopyOption.REPLACE_EXISTING);
    }

    private static WebDriverWait waiting() {
        return new WebDriverWait(driver, Duration.ofMinutes(3), Duration.ofMillis(100));
    }

    private static boolean imageLoaded(WebElement img) {
        Object w = ((JavascriptExecutor) driver).executeScript("return arguments[0].complete && arguments[0].naturalWidth", img);
        return w instanceof Number n && n.intValue() > 0;
    }

    @Test
    void generateThenCompareInARealBrowser() throws Exception {
        driver.get(base + "/");
        assertTrue(driver.findElement(By.id("demo-banner")).getText().contains(DemoPipeline.LABEL));
        WebElement prompt = driver.findElement(By.id("prompt"));
        prompt.clear();
        prompt.sendKeys("a lighthouse on a cliff at dusk, <b>oil painting</b>");
        WebElement seed = driver.findElement(By.id("seed"));
        seed.clear();
        seed.sendKeys("1234");
        driver.findElement(By.id("generate")).click();
        waiting().until(d -> d.findElement(By.id("result")).isDisplayed() && imageLoaded(d.findElement(By.id("result-image"))));
        String params = driver.findElement(By.id("parameters")).getText();
        assertTrue(params.contains("<b>oil painting</b>"), "the prompt shows as text: " + params);
        assertTrue(params.contains("Seed: 1234") && params.contains("Sampler: GE"), params);
        assertTrue(driver.findElement(By.id("download")).getAttribute("href").contains("/outputs/"));
        screenshot("index-result.png");

        driver.get(base + "/compare");
        WebElement cprompt = driver.findElement(By.id("prompt"));
        cprompt.clear();
        cprompt.sendKeys("a lighthouse on a cliff at dusk");
        List<WebElement> panels = driver.findElements(By.cssSelector(".cmp-panel"));
        assertEquals(2, panels.size());
        driver.findElement(By.id("run")).click();
        waiting().until(d -> {
            List<WebElement> p = d.findElements(By.cssSelector(".cmp-panel"));
            return p.stream().allMatch(e -> "done".equals(e.getAttribute("data-state"))
                    && imageLoaded(e.findElement(By.cssSelector(".p-image"))));
        });
        List<WebElement> infos = driver.findElements(By.cssSelector(".cmp-panel .p-info"));
        assertTrue(infos.get(0).getText().contains("Sampler: DDIM") && infos.get(0).getText().contains("Schedule: ddim"));
        assertTrue(infos.get(1).getText().contains("Sampler: GE") && infos.get(1).getText().contains("Schedule: log-linear"));
        String seed0 = infos.get(0).getText().replaceAll("(?s).*Seed: (\\d+).*", "$1");
        assertTrue(infos.get(1).getText().contains("Seed: " + seed0), "both panels share the seed");
        screenshot("compare.png");

        driver.get(base + "/grid");
        WebElement gsteps = driver.findElement(By.id("grid-steps"));
        gsteps.clear();
        gsteps.sendKeys("2, 5, 10");
        driver.findElement(By.id("run")).click();
        waiting().until(d -> d.findElement(By.id("grid-download")).isDisplayed());
        assertEquals(6, driver.findElements(By.cssSelector("#grid-table td[data-state=done]")).size());
        assertTrue(driver.findElement(By.id("grid-download")).getAttribute("href").contains("/api/grid.png?cols=3&jobs="));
        screenshot("grid.png");

        driver.get(base + "/gallery");
        assertEquals(9, driver.findElements(By.cssSelector(".gallery .card")).size());
        screenshot("gallery.png");
    }

    /**
     * The ideal shapes model in the same pages: /compare at N = 50 gives pictures, not noise (nearly every pixel
     * is a colour of the data set's palette, as in its images), and at N = 5 DDIM and GE visibly differ.
     */
    @Test
    void idealShapesModelShowsPicturesOnCompare() throws Exception {
        try (IdealPipeline ideal = IdealPipeline.load(IdealModels.SHAPES);
             JobQueue q = new JobQueue(Generator.of(ideal), new OutputStore(tmp.resolve("ideal-outputs")), 1, 16)) {
            Javalin a = WebApp.create(q, new OutputStore(tmp.resolve("ideal-outputs"))).start("127.0.0.1", 0);
            try {
                String b = "http://127.0.0.1:" + a.port();
                BufferedImage[] n50 = comparePanels(b, 50);
                screenshot("compare-ideal-50.png");
                for (int i = 0; i < 2; i++) {
                    double share = paletteShare(n50[i]);
                    System.out.printf("[ideal] panel %d at N = 50: %.1f%% of pixels within 12 of a palette colour%n", i, 100 * share);
                    assertTrue(share > 0.9, "panel " + i + " at N = 50 is a picture of the data set, not noise: " + share);
                }
                BufferedImage[] n5 = comparePanels(b, 5);
                screenshot("compare-ideal-5.png");
                double diff = meanAbsDiff(n5[0], n5[1]);
                System.out.printf("[ideal] N = 5: DDIM vs GE mean |difference| %.1f of 255%n", diff);
                assertTrue(diff > 5, "DDIM and GE differ visibly at N = 5: " + diff);
            } finally {
                a.stop();
            }
        }
    }

    /** Runs /compare (the default DDIM and GE panels) for "a red circle" at N steps; the two panel images. */
    private static BufferedImage[] comparePanels(String b, int steps) throws Exception {
        driver.get(b + "/compare");
        WebElement p = driver.findElement(By.id("prompt"));
        p.clear();
        p.sendKeys("a red circle");
        WebElement seed = driver.findElement(By.id("seed"));
        seed.clear();
        seed.sendKeys("7");
        WebElement n = driver.findElement(By.id("steps"));
        n.clear();
        n.sendKeys(Integer.toString(steps));
        driver.findElement(By.id("run")).click();
        waiting().until(d -> d.findElements(By.cssSelector(".cmp-panel")).stream().allMatch(e ->
                "done".equals(e.getAttribute("data-state")) && imageLoaded(e.findElement(By.cssSelector(".p-image")))));
        List<WebElement> imgs = driver.findElements(By.cssSelector(".cmp-panel .p-image"));
        assertEquals(2, imgs.size());
        BufferedImage[] out = new BufferedImage[2];
        for (int i = 0; i < 2; i++) {
            String src = imgs.get(i).getAttribute("src");
            out[i] = ImageIO.read(java.net.URI.create(src.startsWith("http") ? src : b + src).toURL());
            assertEquals(64, out[i].getWidth());
        }
        return out;
    }

    /** The share of pixels whose RGB is within 12 (per channel) of a colour of the shapes palette. */
    private static double paletteShare(BufferedImage img) {
        int hits = 0;
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                int rgb = img.getRGB(x, y);
                for (int[] c : ShapesDataSet.PALETTE.values()) {
                    if (Math.abs(((rgb >> 16) & 0xff) - c[0]) <= 12 && Math.abs(((rgb >> 8) & 0xff) - c[1]) <= 12
                            && Math.abs((rgb & 0xff) - c[2]) <= 12) {
                        hits++;
                        break;
                    }
                }
            }
        }
        return hits / (double) (img.getWidth() * img.getHeight());
    }

    private static double meanAbsDiff(BufferedImage a, BufferedImage b) {
        double s = 0;
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) {
                int p = a.getRGB(x, y);
                int q = b.getRGB(x, y);
                for (int sh = 0; sh <= 16; sh += 8) {
                    s += Math.abs(((p >> sh) & 0xff) - ((q >> sh) & 0xff));
                }
            }
        }
        return s / (3.0 * a.getWidth() * a.getHeight());
    }
}
