package dev.tenstep.fidelity;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.tenstep.pipeline.OutputWriter;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The outcome of a {@link FidelityStudy}: every run, the reference's convergence checks, and per sampler and N
 * the mean and spread of the distances to the reference. Written as {@code fidelity.json} (everything),
 * {@code fidelity.csv} (the summary rows), {@code fidelity.png} ({@link FidelityChart}) and a terminal table.
 *
 * @param model    the model's name
 * @param options  the study's options
 * @param sigmaMax sigma(T-1) of the model's training table
 * @param runs     one entry per prompt, seed, sampler and N
 * @param checks   one entry per prompt and seed (empty when the check was skipped)
 */
public record FidelityResult(String model, FidelityStudy.Options options, double sigmaMax,
                             List<FidelityStudy.Run> runs, List<FidelityStudy.Check> checks) {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * Statistics over the seeds (and prompts) of one sampler at one N. The spread is the sample standard
     * deviation (0 for a single run).
     */
    public record Summary(String sampler, String schedule, int steps, int runs, double rmseMean, double rmseStd,
                          double rmseMin, double rmseMax, double psnrMean, double psnrStd) {
        public String label() {
            return sampler + ":" + schedule;
        }
    }

    /** One summary per sampler and N, in the order of the options. */
    public List<Summary> summaries() {
        List<Summary> out = new ArrayList<>();
        for (SamplerSpec s : options.samplers()) {
            for (int n : options.steps()) {
                List<FidelityStudy.Run> rs = runs.stream().filter(r -> r.sampler().equals(s.sampler())
                        && r.schedule().equals(s.schedule()) && r.steps() == n).toList();
                double[] e = rs.stream().mapToDouble(FidelityStudy.Run::latentRmse).toArray();
                double[] p = rs.stream().mapToDouble(FidelityStudy.Run::psnr).toArray();
                out.add(new Summary(s.sampler(), s.schedule(), n, rs.size(), mean(e), std(e),
                        java.util.Arrays.stream(e).min().orElse(Double.NaN), java.util.Arrays.stream(e).max().orElse(Double.NaN),
                        mean(p), std(p)));
            }
        }
        return out;
    }

    /** The summary of a sampler:schedule at N. */
    public Optional<Summary> summary(String sampler, String schedule, int steps) {
        return summaries().stream().filter(s -> s.sampler().equals(sampler) && s.schedule().equals(schedule)
                && s.steps() == steps).findFirst();
    }

    /** Mean rms distance between the reference and its check solve (NaN when skipped). */
    public double checkRmsMean() {
        return mean(checks.stream().mapToDouble(FidelityStudy.Check::rms).toArray());
    }

    /** Largest rms distance between the reference and its check solve (NaN when skipped). */
    public double checkRmsMax() {
        return checks.stream().mapToDouble(FidelityStudy.Check::rms).max().orElse(Double.NaN);
    }

    static double mean(double[] v) {
        if (v.length == 0) {
            return Double.NaN;
        }
        double s = 0;
        for (double x : v) {
            s += x;
        }
        return s / v.length;
    }

    static double std(double[] v) {
        if (v.length < 2) {
            return 0;
        }
        double m = mean(v);
        double s = 0;
        for (double x : v) {
            s += (x - m) * (x - m);
        }
        return Math.sqrt(s / (v.length - 1));
    }

    /** The whole result as JSON (NaN written as null). */
    public String toJson() {
        ObjectNode root = JSON.createObjectNode();
        root.put("model", model);
        ArrayNode prompts = root.putArray("prompts");
        options.prompts().forEach(prompts::add);
        root.put("negative_prompt", options.negativePrompt());
        root.put("cfg_scale", options.guidanceScale());
        ArrayNode seeds = root.putArray("seeds");
        options.seeds().forEach(seeds::add);
        ObjectNode ref = root.putObject("reference");
        ref.put("sampler", "ddim");
        ref.put("schedule", "log-linear-continuous");
        ref.put("steps", options.referenceSteps());
        ref.put("sigma_max", sigmaMax);
        ref.put("start", options.referenceStart() == FidelityStudy.ReferenceStart.RUN
                ? "each run's top level s_0, same z" : "sigma_max, same z");
        ref.put("check_steps", options.checkSteps());
        putNumber(ref, "check_rms_mean", checkRmsMean());
        putNumber(ref, "check_rms_max", checkRmsMax());
        root.put("distance", "latent_rmse: rms of z - z_reference; psnr: dB of decoded pixels in [0, 1] against the "
                + "reference's, capped at " + FidelityStudy.PSNR_CAP);
        ArrayNode sum = root.putArray("summary");
        for (Summary s : summaries()) {
            ObjectNode o = sum.addObject();
            o.put("sampler", s.sampler());
            o.put("schedule", s.schedule());
            o.put("steps", s.steps());
            o.put("runs", s.runs());
            putNumber(o, "latent_rmse_mean", s.rmseMean());
            putNumber(o, "latent_rmse_std", s.rmseStd());
            putNumber(o, "latent_rmse_min", s.rmseMin());
            putNumber(o, "latent_rmse_max", s.rmseMax());
            putNumber(o, "psnr_mean", s.psnrMean());
            putNumber(o, "psnr_std", s.psnrStd());
        }
        ArrayNode rs = root.putArray("runs");
        for (FidelityStudy.Run r : runs) {
            ObjectNode o = rs.addObject();
            o.put("prompt", r.prompt());
            o.put("seed", r.seed());
            o.put("sampler", r.sampler());
            o.put("schedule", r.schedule());
            o.put("steps", r.steps());
            o.put("sigma_start", r.sigmaStart());
            o.put("latent_rmse", r.latentRmse());
            o.put("psnr", r.psnr());
        }
        ArrayNode cs = root.putArray("reference_checks");
        for (FidelityStudy.Check c : checks) {
            ObjectNode o = cs.addObject();
            o.put("prompt", c.prompt());
            o.put("seed", c.seed());
            o.put("rms", c.rms());
        }
        try {
            return JSON.writeValueAsString(root);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void putNumber(ObjectNode o, String key, double v) {
        if (Double.isFinite(v)) {
            o.put(key, v);
        } else {
            o.putNull(key);
        }
    }

    /** The summary rows as CSV (header line, then one line per sampler and N). */
    public String toCsv() {
        StringBuilder sb = new StringBuilder("sampler,schedule,steps,runs,latent_rmse_mean,latent_rmse_std,"
                + "latent_rmse_min,latent_rmse_max,psnr_mean,psnr_std\n");
        for (Summary s : summaries()) {
            sb.append(String.format(Locale.ROOT, "%s,%s,%d,%d,%.6g,%.6g,%.6g,%.6g,%.4f,%.4f%n", s.sampler(), s.schedule(),
                    s.steps(), s.runs(), s.rmseMean(), s.rmseStd(), s.rmseMin(), s.rmseMax(), s.psnrMean(), s.psnrStd()));
        }
        return sb.toString();
    }

    /** A plain-text table: one row per sampler and N, then the reference's convergence. */
    public String table() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-28s %5s %5s  %-21s %-15s%n", "sampler:schedule", "N", "runs",
                "latent RMSE mean+-sd", "PSNR dB mean+-sd"));
        for (Summary s : summaries()) {
            sb.append(String.format(Locale.ROOT, "%-28s %5d %5d  %9.3e +- %-8.1e %6.2f +- %-5.2f%n", s.label(), s.steps(),
                    s.runs(), s.rmseMean(), s.rmseStd(), s.psnrMean(), s.psnrStd()));
        }
        sb.append(String.format(Locale.ROOT, "reference: ddim:log-linear-continuous, %d steps from %s",
                options.referenceSteps(), options.referenceStart() == FidelityStudy.ReferenceStart.RUN
                        ? "each run's top level (same z)" : String.format(Locale.ROOT, "sigma_max %.4f (same z)", sigmaMax)));
        if (!checks.isEmpty()) {
            sb.append(String.format(Locale.ROOT, "; vs %d steps: rms %.2e mean, %.2e max", options.checkSteps(),
                    checkRmsMean(), checkRmsMax()));
        }
        sb.append('\n');
        return sb.toString();
    }

    /**
     * Writes {@code fidelity.json}, {@code fidelity.csv} and {@code fidelity.png} into {@code dir} (created), each
     * atomically ({@link OutputWriter}): an interrupted study leaves the files of the last complete write or none.
     *
     * @return the three files
     */
    public List<Path> write(Path dir) throws IOException {
        Path json = dir.resolve("fidelity.json");
        Path csv = dir.resolve("fidelity.csv");
        Path png = dir.resolve("fidelity.png");
        OutputWriter.writeText(json, toJson());
        OutputWriter.writeText(csv, toCsv());
        OutputWriter.writeImage(png, FidelityChart.render(this));
        return List.of(json, csv, png);
    }
}
