package dev.tenstep.web;

import dev.tenstep.pipeline.DemoPipeline;
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
}
