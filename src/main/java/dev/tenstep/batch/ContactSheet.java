package dev.tenstep.batch;

import dev.tenstep.pipeline.GenerationRecord;
import dev.tenstep.pipeline.OutputWriter;
import org.thymeleaf.TemplateEngine;
import org.thymeleaf.context.Context;
import org.thymeleaf.templatemode.TemplateMode;
import org.thymeleaf.templateresolver.ClassLoaderTemplateResolver;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code index.html}: a static contact sheet of a batch, rendered from the Thymeleaf template
 * {@value #TEMPLATE} on the class path. One row per prompt line (the prompt, its source {@code file:line}), one
 * column per sampler variant; each cell shows the image, links to the PNG, and carries the full A1111 parameters in
 * its {@code title} tooltip. Failed lines and images show their reason. Thymeleaf escapes everything from prompts or
 * files.
 */
public final class ContactSheet {
    /** The template's class-path location. */
    static final String TEMPLATE = "batch/templates/contact-sheet.html";

    private static final TemplateEngine ENGINE = engine();

    private final String model;
    private final long seedBase;
    private final List<PromptEntry> entries;
    private final Map<PromptEntry, List<BatchRunner.Slot>> jobs;
    private final List<String> columns;

    /**
     * A prompt line of the sheet.
     *
     * @param prompt         the line's prompt, null for a line that could not be read
     * @param negativePrompt the negative prompt, null when empty or unread
     * @param location       {@code file:line}
     * @param lineFailed     the whole line failed (no cells; {@code errors} says why)
     * @param errors         the line's failures
     * @param cells          one per column, empty when {@code lineFailed}
     */
    record Row(String prompt, String negativePrompt, String location, boolean lineFailed, List<String> errors,
               List<Cell> cells) {
    }

    /**
     * One image of the sheet.
     *
     * @param href    the PNG's URL path relative to the sheet, null when the image is not (yet) made
     * @param alt     the prompt
     * @param title   the A1111 parameters
     * @param width   image width in pixels
     * @param height  image height in pixels
     * @param caption seed, steps and guidance scale
     * @param errors  the failures of this image
     */
    record Cell(String href, String alt, String title, int width, int height, String caption, List<String> errors) {
    }

    /**
     * @param model    the model's name (the title)
     * @param entries  every prompt line, valid or not, in order
     * @param jobs     the cells of each line that the model accepted (a line missing here failed as a whole)
     * @param columns  the variant labels, in order
     */
    public ContactSheet(String model, long seedBase, List<PromptEntry> entries, Map<PromptEntry, List<BatchRunner.Slot>> jobs,
                 List<String> columns) {
        this.model = model;
        this.seedBase = seedBase;
        this.entries = entries;
        this.jobs = jobs;
        this.columns = columns;
    }

    /**
     * Writes the sheet atomically ({@link OutputWriter#writeText}).
     *
     * @param done     key -> record of the finished images
     * @param failures the failures so far
     * @param finished whether the batch has ended (else the sheet says it is still running, as of now)
     */
    public void write(Path file, Map<String, GenerationRecord> done, List<BatchRunner.Failure> failures, boolean finished)
            throws IOException {
        OutputWriter.writeText(file, html(done, failures, finished));
    }

    /** The sheet's HTML, as {@link #write} stores it (the Spark job writes it through Hadoop's file system API). */
    public String html(Map<String, GenerationRecord> done, List<BatchRunner.Failure> failures, boolean finished) {
        Map<String, List<BatchRunner.Failure>> failed = new LinkedHashMap<>();
        for (BatchRunner.Failure f : failures) {
            failed.computeIfAbsent(f.source(), k -> new ArrayList<>()).add(f);
        }
        List<Row> rows = new ArrayList<>();
        for (PromptEntry e : entries) {
            List<BatchRunner.Failure> fs = failed.getOrDefault(e.location(), List.of());
            String prompt = e.ok() ? e.request().prompt() : null;
            String negative = e.ok() && !e.request().negativePrompt().isEmpty() ? e.request().negativePrompt() : null;
            List<BatchRunner.Slot> js = jobs.get(e);
            if (js == null) {
                rows.add(new Row(prompt, negative, e.location(), true,
                        fs.stream().map(BatchRunner.Failure::reason).toList(), List.of()));
                continue;
            }
            List<Cell> cells = new ArrayList<>();
            for (String c : columns) {
                BatchRunner.Slot j = js.stream().filter(x -> x.variant().label().equals(c)).findFirst().orElse(null);
                GenerationRecord r = j == null ? null : done.get(j.key());
                if (r != null) {
                    cells.add(new Cell(urlPath(r.file()), r.prompt(), r.infotext(), r.width(), r.height(),
                            "seed " + r.seed() + " \u00b7 " + r.steps() + " steps \u00b7 cfg " + fmt(r.cfgScale()), List.of()));
                } else {
                    List<String> errs = j == null ? List.of()
                            : fs.stream().filter(f -> c.equals(f.variant())).map(BatchRunner.Failure::reason).toList();
                    cells.add(new Cell(null, null, null, 0, 0, null, errs));
                }
            }
            rows.add(new Row(prompt, negative, e.location(), false, List.of(), cells));
        }
        Context ctx = new Context(Locale.ROOT);
        ctx.setVariable("model", model);
        ctx.setVariable("seedBase", seedBase);
        ctx.setVariable("images", done.size());
        ctx.setVariable("failures", failures.size());
        ctx.setVariable("finished", finished);
        ctx.setVariable("time", OutputWriter.time(Instant.now()));
        ctx.setVariable("columns", columns);
        ctx.setVariable("columnCount", Math.max(1, columns.size()));
        ctx.setVariable("rows", rows);
        return ENGINE.process(TEMPLATE, ctx);
    }

    private static TemplateEngine engine() {
        ClassLoaderTemplateResolver r = new ClassLoaderTemplateResolver(ContactSheet.class.getClassLoader());
        r.setTemplateMode(TemplateMode.HTML);
        r.setCharacterEncoding("UTF-8");
        r.setCacheable(true);
        TemplateEngine engine = new TemplateEngine();
        engine.setTemplateResolver(r);
        return engine;
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : String.format(Locale.ROOT, "%s", v);
    }

    /** Percent-encodes the characters of a relative file name that are not safe in a URL path. */
    static String urlPath(String name) {
        StringBuilder sb = new StringBuilder();
        for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xff;
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || "-._~/".indexOf(c) >= 0) {
                sb.append((char) c);
            } else {
                sb.append('%').append(String.format("%02X", c));
            }
        }
        return sb.toString();
    }
}
