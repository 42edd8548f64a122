package dev.tenstep.web;

import dev.tenstep.pipeline.DemoModelWriter;
import dev.tenstep.pipeline.IdealPipeline;
import dev.tenstep.sampling.ideal.IdealModels;
import dev.tenstep.sampling.ideal.ShapesDataSet;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import io.javalin.Javalin;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import dev.tenstep.testing.Browsers;
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
import org.openqa.selenium.support.ui.Select;
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
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Real browser: headless Chromium driven by Selenium through the system's chromedriver (nothing
 * is downloaded). Serves the demo pipeline (written to a temp folder), submits the form, waits for
 * the image, runs /compare until both panels finish, runs the default grid (8 cells: more than a
 * browser's 6 connections per host and more than the queue of 2 takes at once) until every cell
 * shows its image, checks that each page holds at most one event stream, and saves screenshots in
 * target/screenshots/.
 * Fails (never skips) when Chromium or chromedriver is missing ({@link Browsers} says which). Tagged
 * {@code browser}: {@code ./tenstep test -DexcludedGroups=browser,slow} runs the suite without it.
 */
@Tag("browser")
class WebUiBrowserTest {
    private static final Path SHOTS = Path.of("target/screenshots");
    private static final int QUEUE_SIZE = 2;

    @TempDir
    static Path tmp;

    private static StableDiffusionPipeline pipeline;
    private static JobQueue queue;
    private static Javalin app;
    private static WebDriver driver;
    private static String base;

    @BeforeAll
    static void start() throws Exception {
        Browsers.Found browser;
        try {
            browser = Browsers.find();
        } catch (IllegalStateException e) {
            fail(e.getMessage());
            return;
        }
        Path demo = DemoModelWriter.create(tmp.resolve("models/demo"), DemoModelWriter.DEFAULT_SEED);
        pipeline = StableDiffusionPipeline.load(demo);
        OutputStore store = new OutputStore(tmp.resolve("outputs"));
        // a queue of 2: the default grid's 8 cells do not fit at once, so the page submits in batches
        queue = new JobQueue(ServedModel.of(pipeline), store, 1, QUEUE_SIZE);
        app = WebApp.create(queue, store).start("127.0.0.1", 0);
        base = "http://127.0.0.1:" + app.port();

        System.setProperty("SE_AVOID_STATS", "true");
        System.setProperty("webdriver.chrome.driver", browser.driver().toString());
        ChromeOptions options = new ChromeOptions();
        options.setBinary(browser.browser().toFile());
        options.addArguments("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage", "--window-size=1280,1100");
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(browser.driver().toFile()).usingAnyFreePort().build();
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

    private static void type(String id, String text) {
        WebElement e = driver.findElement(By.id(id));
        e.clear();
        e.sendKeys(text);
    }

    /**
     * Wraps the page's EventSource so the test sees every stream the page opens ({@code __streams})
     * and the most it held open at once ({@code __maxOpen}).
     */
    private static void countEventSources() {
        ((JavascriptExecutor) driver).executeScript(
                "window.__streams = []; window.__open = 0; window.__maxOpen = 0;"
                + "window.EventSource = class extends window.EventSource {"
                + "  constructor(url, options) { super(url, options); window.__streams.push(String(url));"
                + "    window.__maxOpen = Math.max(window.__maxOpen, ++window.__open); }"
                + "  close() { if (this.readyState !== 2) window.__open--; super.close(); } };");
    }

    @SuppressWarnings("unchecked")
    private static List<String> eventSources() {
        return (List<String>) ((JavascriptExecutor) driver).executeScript("return window.__streams;");
    }

    private static int mostOpenEventSources() {
        return ((Number) ((JavascriptExecutor) driver).executeScript("return window.__maxOpen;")).intValue();
    }

    @Test
    void generateThenCompareInARealBrowser() throws Exception {
        driver.get(base + "/");
        assertTrue(driver.findElement(By.id("demo-banner")).getText().contains(DemoModelWriter.LABEL));
        WebElement prompt = driver.findElement(By.id("prompt"));
        prompt.clear();
        prompt.sendKeys("a lighthouse on a cliff at dusk, <b>oil painting</b>");
        WebElement seed = driver.findElement(By.id("seed"));
        seed.clear();
        seed.sendKeys("1234");
        // prompt syntax, clip skip and RNG: the server's lists, its defaults selected
        Select rng = new Select(driver.findElement(By.id("rng")));
        Select syntax = new Select(driver.findElement(By.id("prompt_syntax")));
        assertEquals(List.of("philox", "torch-cpu", "tenstep"), rng.getOptions().stream().map(o -> o.getAttribute("value")).toList());
        assertEquals("philox", rng.getFirstSelectedOption().getAttribute("value"));
        assertEquals("a1111", syntax.getFirstSelectedOption().getAttribute("value"));
        assertEquals("1", driver.findElement(By.id("clip_skip")).getAttribute("value"));
        rng.selectByValue("torch-cpu");
        syntax.selectByValue("plain");
        type("clip_skip", "2");
        driver.findElement(By.id("generate")).click();
        waiting().until(d -> d.findElement(By.id("result")).isDisplayed() && imageLoaded(d.findElement(By.id("result-image"))));
        String params = driver.findElement(By.id("parameters")).getText();
        assertTrue(params.contains("<b>oil painting</b>"), "the prompt shows as text: " + params);
        assertTrue(params.contains("Seed: 1234") && params.contains("Sampler: GE"), params);
        assertTrue(params.contains("Clip skip: 2, RNG: CPU, Emphasis: None"), "the form's choices reach the job: " + params);
        assertTrue(driver.findElement(By.id("download")).getAttribute("href").contains("/outputs/"));
        screenshot("index-result.png");
        // "Reuse these settings" refills the form, these three included
        driver.findElement(By.id("reuse")).click();
        waiting().until(d -> d.getCurrentUrl().contains("reuse="));
        assertEquals("torch-cpu", new Select(driver.findElement(By.id("rng"))).getFirstSelectedOption().getAttribute("value"));
        assertEquals("plain", new Select(driver.findElement(By.id("prompt_syntax"))).getFirstSelectedOption().getAttribute("value"));
        assertEquals("2", driver.findElement(By.id("clip_skip")).getAttribute("value"));
        assertEquals("1234", driver.findElement(By.id("seed")).getAttribute("value"));
        // gamma is GE's alone: the field is disabled (and not sent) for DDIM, whose request the server then accepts
        Select sampler = new Select(driver.findElement(By.id("sampler")));
        WebElement gamma = driver.findElement(By.id("gamma"));
        assertTrue(gamma.isEnabled(), "GE has a gamma");
        sampler.selectByValue("ddim");
        assertFalse(gamma.isEnabled(), "DDIM has no gamma");
        sampler.selectByValue("ge");
        assertTrue(gamma.isEnabled());
        assertEquals(2.0, Double.parseDouble(gamma.getAttribute("value")), "GE's default gamma");
        sampler.selectByValue("ddim");
        driver.findElement(By.id("generate")).click();
        waiting().until(d -> d.findElement(By.id("result")).isDisplayed() && imageLoaded(d.findElement(By.id("result-image"))));
        String ddimParams = driver.findElement(By.id("parameters")).getText();
        assertTrue(ddimParams.contains("Sampler: DDIM") && !ddimParams.contains("Gamma"), ddimParams);

        driver.get(base + "/compare");
        WebElement cprompt = driver.findElement(By.id("prompt"));
        cprompt.clear();
        cprompt.sendKeys("a lighthouse on a cliff at dusk");
        type("steps", "4");
        countEventSources();
        List<WebElement> panels = driver.findElements(By.cssSelector(".cmp-panel"));
        assertEquals(2, panels.size());
        // "Add panel" takes the first sampler of the server's list not shown yet, with its default schedule
        driver.findElement(By.id("add-panel")).click();
        List<WebElement> three = driver.findElements(By.cssSelector(".cmp-panel"));
        assertEquals(3, three.size());
        assertEquals("ddpm", three.get(2).findElement(By.cssSelector(".p-sampler")).getAttribute("value"));
        assertEquals("trailing", three.get(2).findElement(By.cssSelector(".p-schedule")).getAttribute("value"));
        three.get(2).findElement(By.cssSelector(".p-remove")).click();
        assertEquals(2, driver.findElements(By.cssSelector(".cmp-panel")).size());
        driver.findElement(By.id("run")).click();
        waiting().until(d -> {
            List<WebElement> p = d.findElements(By.cssSelector(".cmp-panel"));
            return p.stream().allMatch(e -> "done".equals(e.getAttribute("data-state"))
                    && imageLoaded(e.findElement(By.cssSelector(".p-image"))));
        });
        List<WebElement> infos = driver.findElements(By.cssSelector(".cmp-panel .p-info"));
        assertTrue(infos.get(0).getText().contains("Sampler: DDIM") && infos.get(0).getText().contains("Schedule type: ddim"));
        assertTrue(infos.get(1).getText().contains("Sampler: GE") && infos.get(1).getText().contains("Schedule type: log-linear"));
        String seed0 = infos.get(0).getText().replaceAll("(?s).*Seed: (\\d+).*", "$1");
        assertTrue(infos.get(1).getText().contains("Seed: " + seed0), "both panels share the seed");
        assertEquals(1, eventSources().size(), "one event stream for both panels: " + eventSources());
        String alt = panels.get(1).findElement(By.cssSelector(".p-image")).getAttribute("alt");
        assertTrue(alt.contains("a lighthouse on a cliff at dusk") && alt.contains("GE"), alt);
        screenshot("compare.png");

        // the default grid's 8 cells (its 2 rows x 4 step counts; more than the 6 connections a
        // browser opens per host, and more than the queue holds): every cell fills in. The
        // step counts 5, 10, 20, 50 become 1, 2, 3, 4 and the size 32 px to keep the test short.
        driver.get(base + "/grid");
        countEventSources();
        assertEquals("5, 10, 20, 50", driver.findElement(By.id("grid-steps")).getAttribute("value"));
        assertEquals(2, driver.findElement(By.id("grid-rows")).getAttribute("value").trim().split("\n").length);
        type("grid-steps", "1, 2, 3, 4");
        type("width", "32");
        type("height", "32");
        driver.findElement(By.id("run")).click();
        waiting().until(d -> d.findElement(By.id("grid-download")).isDisplayed());
        List<WebElement> cells = driver.findElements(By.cssSelector("#grid-table td[data-state=done] img"));
        assertEquals(8, cells.size());
        for (WebElement img : cells) {
            assertTrue(imageLoaded(img) && img.getAttribute("src").contains("/outputs/"), img.getAttribute("src"));
            assertTrue(img.getAttribute("alt").contains("steps"), img.getAttribute("alt"));
            assertEquals("auto", img.getCssValue("image-rendering"), "no pixelated rendering of a finished image");
        }
        String grid = driver.findElement(By.id("grid-download")).getAttribute("href");
        assertTrue(grid.contains("/api/grid.png?cols=4&jobs="), grid);
        // 8 cells > 1 running + 2 waiting: at least two batches, each on one stream, one open at a time
        List<String> streams = eventSources();
        assertTrue(streams.size() >= 2, "the grid was submitted in batches: " + streams);
        assertEquals(1, mostOpenEventSources(), "never more than one event stream open: " + streams);
        int followed = 0;
        for (String stream : streams) {
            assertTrue(stream.contains("/api/events?jobs="), stream);
            followed += stream.replaceAll(".*jobs=", "").split(",").length;
        }
        assertEquals(8, followed, streams.toString());
        screenshot("grid.png");

        driver.get(base + "/gallery");
        // 2 from the generate page (GE, then DDIM), 2 from compare, 8 from the grid
        assertEquals(12, driver.findElements(By.cssSelector(".gallery .card")).size());
        screenshot("gallery.png");
    }

    /**
     * The model picker in the header: a labelled select of the catalog (a folder of links: the demo, tiny-sd15
     * and a broken folder); choosing tiny-sd15 while a job runs shows "loading" until the job ends and the
     * model is loaded, then the page reloads on it; choosing the broken folder says why and keeps tiny-sd15.
     */
    @Test
    void modelPickerSwitchesTheModel() throws Exception {
        Path models = Files.createDirectories(tmp.resolve("picker-models"));
        Files.createSymbolicLink(models.resolve("demo"), tmp.resolve("models/demo"));
        Files.createSymbolicLink(models.resolve("tiny-sd15"), dev.tenstep.testing.Fixtures.dir(dev.tenstep.testing.Fixtures.SD15));
        Path broken = Files.createDirectories(models.resolve("tiny-broken"));
        Files.writeString(broken.resolve("model_index.json"), "{}");
        dev.tenstep.pipeline.ModelCatalog catalog = new dev.tenstep.pipeline.ModelCatalog(models);
        ModelSwitcher.Loader loader = e -> {
            StableDiffusionPipeline p = StableDiffusionPipeline.load(e.path());
            return ServedModel.owning(p, p.maxSize());
        };
        dev.tenstep.pipeline.ModelCatalog.Entry demo = catalog.find("demo").orElseThrow();
        ServedModel loaded = loader.load(demo);
        WebTestSupport.HoldingModel held = new WebTestSupport.HoldingModel(loaded.model());
        OutputStore store = new OutputStore(tmp.resolve("picker-outputs"));
        JobQueue q = new JobQueue(ServedModel.owning(held, loaded.maxSize()), store, 1, 4);
        ModelSwitcher switcher = new ModelSwitcher(q, catalog, loader, demo);
        Javalin a = WebApp.create(q, store, switcher).start("127.0.0.1", 0);
        try {
            String b = "http://127.0.0.1:" + a.port();
            driver.get(b + "/");
            assertEquals("Model", driver.findElement(By.cssSelector("label[for=model-picker]")).getText());
            org.openqa.selenium.support.ui.Select picker = new org.openqa.selenium.support.ui.Select(driver.findElement(By.id("model-picker")));
            assertEquals(List.of("demo", "tiny-broken", "tiny-sd15 (SD 1.x)"), picker.getOptions().stream().map(WebElement::getText).toList());
            assertEquals("demo", picker.getFirstSelectedOption().getText());

            Job running = q.submit(held.resolve(dev.tenstep.pipeline.GenerationRequest.of("held").withSteps(2).withSeed(1)), Job.Preview.NONE);
            held.awaitStarted();
            picker.selectByValue("tiny-sd15");
            waiting().until(d -> "tiny-sd15".equals(q.model().switchingTo()));
            WebElement status = driver.findElement(By.id("model-status"));
            assertEquals("loading tiny-sd15…", status.getText());
            assertTrue(!driver.findElement(By.id("model-picker")).isEnabled(), "the picker waits for the switch");
            screenshot("model-loading.png");
            held.release();
            assertEquals(Job.Status.DONE, running.done().get(60, java.util.concurrent.TimeUnit.SECONDS).status());
            waiting().ignoring(org.openqa.selenium.StaleElementReferenceException.class).until(d ->
                    "tiny-sd15".equals(d.findElement(By.id("model-picker")).getAttribute("data-current")));
            assertEquals("tiny-sd15 (SD 1.x)", new org.openqa.selenium.support.ui.Select(driver.findElement(By.id("model-picker")))
                    .getFirstSelectedOption().getText());
            assertTrue(driver.findElements(By.id("demo-banner")).isEmpty(), "tiny-sd15 is not the demo");
            assertEquals("demo", running.model(), "the job that ran during the switch stayed on the old model");

            new org.openqa.selenium.support.ui.Select(driver.findElement(By.id("model-picker"))).selectByValue("tiny-broken");
            waiting().until(d -> d.findElement(By.id("model-status")).getText().startsWith("could not switch"));
            String why = driver.findElement(By.id("model-status")).getText();
            assertTrue(why.contains("could not load 'tiny-broken'") && why.contains("still serving 'tiny-sd15'"), why);
            assertEquals("tiny-sd15", driver.findElement(By.id("model-picker")).getAttribute("value"));
            assertTrue(driver.findElement(By.id("model-picker")).isEnabled());
            screenshot("model-failed.png");
        } finally {
            a.stop();
            q.close();
            switcher.close();
        }
    }

    /**
     * The ideal shapes model in the same pages: /compare at N = 50 gives pictures, not noise (nearly every pixel
     * is a colour of the data set's palette, as in its images), and at N = 5 DDIM and GE visibly differ.
     */
    @Test
    void idealShapesModelShowsPicturesOnCompare() throws Exception {
        try (IdealPipeline ideal = IdealPipeline.load(IdealModels.SHAPES);
             JobQueue q = new JobQueue(ServedModel.of(ideal), new OutputStore(tmp.resolve("ideal-outputs")), 1, 16)) {
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

    /**
     * The built-in trained model ({@code models/tenstep-shapes}, what {@code serve} shows on a fresh clone) on /compare
     * in a 1400 x 1000 window: the prompt placeholder is the model's example prompt, the form lists its words and
     * offers no size above its limit, and with the page's own defaults (N = 10, the model's CFG 3) and the example
     * prompt both panels finish inside the first screen with a red picture (seed 0: measured right with GE and DDIM).
     */
    @Test
    void builtInModelComparesAboveTheFold() throws Exception {
        Path model = Path.of("models", "tenstep-shapes");
        try (StableDiffusionPipeline shapes = StableDiffusionPipeline.load(model);
             JobQueue q = new JobQueue(ServedModel.of(shapes), new OutputStore(tmp.resolve("shapes-outputs")), 1, 16)) {
            Javalin a = WebApp.create(q, new OutputStore(tmp.resolve("shapes-outputs"))).start("127.0.0.1", 0);
            org.openqa.selenium.Dimension before = driver.manage().window().getSize();
            try {
                driver.manage().window().setSize(new org.openqa.selenium.Dimension(1400, 1000));
                driver.get("http://127.0.0.1:" + a.port() + "/compare");
                WebElement p = driver.findElement(By.id("prompt"));
                assertEquals("a red circle", p.getAttribute("placeholder"));
                String words = driver.findElement(By.id("known-words")).getText();
                assertTrue(words.contains("circle") && words.contains("triangle") && words.contains("navy"), words);
                assertEquals("10", driver.findElement(By.id("steps")).getAttribute("value"));
                assertEquals(3.0, Double.parseDouble(driver.findElement(By.id("cfg_scale")).getAttribute("value")));
                assertEquals(Integer.toString(shapes.maxSize()), driver.findElement(By.id("width")).getAttribute("max"));
                p.clear();
                p.sendKeys("a red circle");
                type("seed", "0");
                driver.findElement(By.id("run")).click();
                waiting().until(d -> d.findElements(By.cssSelector(".cmp-panel")).stream().allMatch(e ->
                        "done".equals(e.getAttribute("data-state")) && imageLoaded(e.findElement(By.cssSelector(".p-image")))));
                screenshot("compare-tenstep-shapes-1400x1000.png");
                long viewport = ((Number) ((JavascriptExecutor) driver).executeScript("return window.innerHeight")).longValue();
                List<WebElement> imgs = driver.findElements(By.cssSelector(".cmp-panel .p-image"));
                assertEquals(2, imgs.size());
                for (WebElement img : imgs) {
                    Number bottom = (Number) ((JavascriptExecutor) driver).executeScript(
                            "return arguments[0].getBoundingClientRect().bottom + window.scrollY", img);
                    assertTrue(bottom.doubleValue() <= viewport,
                            "panel image ends at " + bottom + " px, inside the first " + viewport + " px");
                    String src = img.getAttribute("src");
                    BufferedImage pic = ImageIO.read(java.net.URI.create(src.startsWith("http") ? src
                            : "http://127.0.0.1:" + a.port() + src).toURL());
                    double red = share(pic, 220, 40, 40);
                    System.out.printf("[tenstep-shapes] %s: %.1f%% of pixels near red%n", img.getAttribute("alt"), 100 * red);
                    assertTrue(red > 0.05, "a red shape in " + img.getAttribute("alt") + ": " + red);
                }
            } finally {
                driver.manage().window().setSize(before);
                a.stop();
            }
        }
    }

    /**
     * SDXL's size conditioning through the real page (the tiny SDXL fixture): the form's six fields reach the job in
     * diffusers' order (the infotext writes width first), an empty crop is 0, and "Reuse these settings" fills the
     * fields back.
     */
    @Test
    void sdxlSizeConditioningFieldsReachTheJob() throws Exception {
        try (StableDiffusionPipeline xl = StableDiffusionPipeline.load(dev.tenstep.testing.Fixtures.dir(dev.tenstep.testing.Fixtures.SDXL));
             JobQueue q = new JobQueue(ServedModel.of(xl), new OutputStore(tmp.resolve("sdxl-outputs")), 1, 16)) {
            Javalin a = WebApp.create(q, new OutputStore(tmp.resolve("sdxl-outputs"))).start("127.0.0.1", 0);
            try {
                driver.get("http://127.0.0.1:" + a.port() + "/");
                type("prompt", "a photo of a cat");
                type("seed", "3");
                type("steps", "2");
                type("original_width", "768");
                type("original_height", "1024");
                type("crop_left", "16");
                driver.findElement(By.id("generate")).click();
                waiting().until(d -> d.findElement(By.id("result")).isDisplayed() && imageLoaded(d.findElement(By.id("result-image"))));
                String params = driver.findElement(By.id("parameters")).getText();
                assertTrue(params.contains("Original size: 768x1024") && params.contains("Crop top left: \"0,16\""), params);
                assertFalse(params.contains("Target size"), "an empty target is the image's size, not recorded: " + params);
                driver.findElement(By.id("reuse")).click();
                waiting().until(d -> d.getCurrentUrl().contains("reuse="));
                assertEquals("768", driver.findElement(By.id("original_width")).getAttribute("value"));
                assertEquals("1024", driver.findElement(By.id("original_height")).getAttribute("value"));
                assertEquals("16", driver.findElement(By.id("crop_left")).getAttribute("value"));
            } finally {
                a.stop();
            }
        }
    }

    /** The share of pixels within 60 (per channel) of the colour (r, g, b). */
    private static double share(BufferedImage img, int r, int g, int b) {
        int hits = 0;
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                int rgb = img.getRGB(x, y);
                if (Math.abs(((rgb >> 16) & 0xff) - r) <= 60 && Math.abs(((rgb >> 8) & 0xff) - g) <= 60
                        && Math.abs((rgb & 0xff) - b) <= 60) {
                    hits++;
                }
            }
        }
        return hits / (double) (img.getWidth() * img.getHeight());
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
