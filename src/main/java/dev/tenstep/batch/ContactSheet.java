package dev.tenstep.batch;

import dev.tenstep.pipeline.GenerationRecord;
import dev.tenstep.io.AtomicFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code index.html}: a static contact sheet of a batch. One row per prompt line (the prompt, its
 * source {@code file:line} and seed), one column per sampler variant; each cell shows the image,
 * links to the PNG, and carries the full A1111 parameters in its {@code title} tooltip. Failed lines
 * and images show their reason. Everything from prompts or files is HTML-escaped.
 */
final class ContactSheet {
    private final String model;
    private final long seedBase;
    private final List<PromptEntry> entries;
    private final Map<PromptEntry, List<BatchRunner.Job>> jobs;
    private final List<String> columns;

    ContactSheet(String model, long seedBase, List<PromptEntry> entries, Map<PromptEntry, List<BatchRunner.Job>> jobs,
                 List<String> columns) {
        this.model = model;
        this.seedBase = seedBase;
        this.entries = entries;
        this.jobs = jobs;
        this.columns = columns;
    }

    /** Writes the sheet atomically. {@code done}: key -> record of the finished images. */
    void write(Path file, Map<String, GenerationRecord> done, List<BatchRunner.Failure> failures) throws IOException {
        AtomicFiles.write(file, html(done, failures).getBytes(StandardCharsets.UTF_8));
    }

    String html(Map<String, GenerationRecord> done, List<BatchRunner.Failure> failures) {
        Map<String, List<BatchRunner.Failure>> failed = new LinkedHashMap<>();
        for (BatchRunner.Failure f : failures) {
            failed.computeIfAbsent(f.source(), k -> new ArrayList<>()).add(f);
        }
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
                .append("<title>tenstep batch: ").append(esc(model)).append("</title>\n<style>\n")
                .append("body{font-family:system-ui,sans-serif;margin:1em;background:#fafafa;color:#222}\n")
                .append("table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:6px;vertical-align:top;background:#fff}\n")
                .append("thead th{position:sticky;top:0;background:#eee}\n")
                .append("th.prompt{text-align:left;max-width:22em;font-weight:normal}\n")
                .append(".src{color:#777;font-size:.85em}.err{color:#b00;font-size:.9em;max-width:22em}\n")
                .append("img{display:block;max-width:256px;height:auto}.cap{font-size:.8em;color:#555}\n")
                .append("</style>\n</head>\n<body>\n");
        long images = done.size();
        h.append("<h1>Batch contact sheet</h1>\n<p>Model <b>").append(esc(model)).append("</b>, seed base ")
                .append(seedBase).append(", ").append(images).append(" image").append(images == 1 ? "" : "s")
                .append(", ").append(failures.size()).append(" failure").append(failures.size() == 1 ? "" : "s")
                .append(". Rows are prompt lines, columns samplers (sampler:schedule); hover an image for its parameters.</p>\n");
        h.append("<table>\n<thead><tr><th>prompt</th>");
        for (String c : columns) {
            h.append("<th>").append(esc(c)).append("</th>");
        }
        h.append("</tr></thead>\n<tbody>\n");
        for (PromptEntry e : entries) {
            h.append("<tr><th class=\"prompt\" scope=\"row\">");
            if (e.ok()) {
                h.append("<div>").append(esc(e.request().prompt())).append("</div>");
                if (!e.request().negativePrompt().isEmpty()) {
                    h.append("<div class=\"src\">negative: ").append(esc(e.request().negativePrompt())).append("</div>");
                }
            }
            h.append("<div class=\"src\">").append(esc(e.location())).append("</div></th>");
            List<BatchRunner.Job> js = jobs.get(e);
            List<BatchRunner.Failure> fs = failed.getOrDefault(e.location(), List.of());
            if (js == null) {
                h.append("<td class=\"err\" colspan=\"").append(Math.max(1, columns.size())).append("\">");
                for (BatchRunner.Failure f : fs) {
                    h.append("<div>").append(esc(f.reason())).append("</div>");
                }
                h.append("</td></tr>\n");
                continue;
            }
            for (String c : columns) {
                BatchRunner.Job j = js.stream().filter(x -> x.variant().label().equals(c)).findFirst().orElse(null);
                h.append("<td>");
                if (j != null) {
                    GenerationRecord r = done.get(j.key());
                    if (r != null) {
                        String href = esc(urlPath(r.file()));
                        h.append("<a href=\"").append(href).append("\"><img src=\"").append(href)
                                .append("\" loading=\"lazy\" alt=\"").append(esc(r.prompt())).append("\" title=\"")
                                .append(esc(r.infotext())).append("\" width=\"").append(r.width()).append("\" height=\"")
                                .append(r.height()).append("\"></a><div class=\"cap\">seed ").append(r.seed())
                                .append(" &middot; ").append(r.steps()).append(" steps &middot; cfg ")
                                .append(esc(fmt(r.cfgScale()))).append("</div>");
                    } else {
                        for (BatchRunner.Failure f : fs) {
                            if (c.equals(f.variant())) {
                                h.append("<div class=\"err\">").append(esc(f.reason())).append("</div>");
                            }
                        }
                    }
                }
                h.append("</td>");
            }
            h.append("</tr>\n");
        }
        h.append("</tbody>\n</table>\n</body>\n</html>\n");
        return h.toString();
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

    /** HTML-escapes text for element content and double- or single-quoted attributes. */
    static String esc(String s) {
        if (s == null) {
            return "";
        }
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '&' -> sb.append("&amp;");
                case '<' -> sb.append("&lt;");
                case '>' -> sb.append("&gt;");
                case '"' -> sb.append("&quot;");
                case '\'' -> sb.append("&#39;");
                case '\n' -> sb.append("&#10;");
                default -> sb.append(c);
            }
        }
        return sb.toString();
    }
}
