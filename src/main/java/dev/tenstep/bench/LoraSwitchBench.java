package dev.tenstep.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.model.nn.Patchable;
import dev.tenstep.pipeline.ComputeSpec;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.GenerationResult;
import dev.tenstep.pipeline.LoraCatalog;
import dev.tenstep.pipeline.LoraSwitch;
import dev.tenstep.pipeline.PipelineAssembler;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import dev.tenstep.sampling.SamplerKind;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The cost of switching LoRAs on a loaded model ({@code bench --lora-rank R}): a pipeline with seeded random
 * weights from a folder's configs (the full-size SD 1.5 config in the measurements of docs/prompts.md) and a
 * random kohya LoRA of rank R in the layout most civitai files have ({@code networks.lora} without
 * {@code conv_dim}: every text-encoder attention and MLP linear, every linear and 1x1 convolution of the UNet's
 * transformer blocks, stored F16, alpha = R / 2). It times, per repetition and as medians:
 * <ol>
 *   <li>base model -&gt; LoRA at 0.8 (read the file onto the device, bind, merge);</li>
 *   <li>LoRA at 0.8 -&gt; LoRA at 0.5 (restore, read, merge);</li>
 *   <li>LoRA -&gt; base model (restore: drop the merged weights);</li>
 * </ol>
 * each through {@link LoraSwitch#use} as a generation does, the merge synchronised on a GPU; and one generation
 * with and without the LoRA at the given size and steps (the per-step cost must not change: the LoRA is merged).
 */
public final class LoraSwitchBench {
    private final Path model;
    private final boolean randomWeights;
    private final int rank;
    private final int repeat;
    private final Integer width;
    private final Integer height;
    private final int steps;
    private final long seed;
    private final ComputeSpec compute;
    private final PrintWriter log;

    /**
     * @param model   a diffusers folder
     * @param randomWeights read only its configs and use seeded random weights
     * @param rank    the LoRA's rank (typical civitai files: 8 to 128)
     * @param repeat  switch cycles measured (each: base -&gt; LoRA -&gt; other multiplier -&gt; base), after one unmeasured
     * @param width   generation width, null for the model's default
     * @param height  generation height, null for the model's default
     * @param steps   steps of the generations with and without the LoRA (0: none)
     * @param seed    weights and LoRA seed
     * @param compute device and dtypes
     * @param log     progress lines
     */
    public LoraSwitchBench(Path model, boolean randomWeights, int rank, int repeat, Integer width, Integer height, int steps, long seed,
                           ComputeSpec compute, PrintWriter log) {
        if (rank < 1) {
            throw new IllegalArgumentException("--lora-rank must be at least 1, got " + rank);
        }
        this.model = model;
        this.randomWeights = randomWeights;
        this.rank = rank;
        this.repeat = Math.max(1, repeat);
        this.width = width;
        this.height = height;
        this.steps = steps;
        this.seed = seed;
        this.compute = compute;
        this.log = log;
    }

    /** Runs the measurements and returns the report (a few lines of text). */
    public String run() {
        Path dir;
        try {
            dir = Files.createTempDirectory("tenstep-lora-bench");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try (StableDiffusionPipeline p = randomWeights ? PipelineAssembler.randomWeights(model, seed, compute)
                : StableDiffusionPipeline.load(model, compute)) {
            Path file = dir.resolve("bench.safetensors");
            int[] modules = writeRandomLora(p, rank, file, seed);
            long fileBytes = Files.size(file);
            p.setLoraCatalog(new LoraCatalog(dir));
            String base = "a photograph of an astronaut riding a horse";
            List<LoraSwitch.Switch> on = new ArrayList<>();
            List<LoraSwitch.Switch> other = new ArrayList<>();
            List<LoraSwitch.Switch> off = new ArrayList<>();
            // CPU time of the process per switch: on a shared machine the wall time also counts the waits for a core
            List<Double> onCpu = new ArrayList<>();
            List<Double> otherCpu = new ArrayList<>();
            for (int i = 0; i <= repeat; i++) {
                double c0 = cpuMs();
                LoraSwitch.Switch a = cycle(p, base + " <lora:bench:0.8>");
                double c1 = cpuMs();
                LoraSwitch.Switch b = cycle(p, base + " <lora:bench:0.5>");
                double c2 = cpuMs();
                LoraSwitch.Switch c = cycle(p, base);
                log.printf(Locale.ROOT, "%s: on %.0f ms (cpu %.0f ms), other multiplier %.0f ms (cpu %.0f ms), off %.2f ms%n",
                        i == 0 ? "warm-up" : "run " + i, a.totalMs(), c1 - c0, b.totalMs(), c2 - c1, c.totalMs());
                log.flush();
                if (i > 0) {
                    on.add(a);
                    other.add(b);
                    off.add(c);
                    onCpu.add(c1 - c0);
                    otherCpu.add(c2 - c1);
                }
            }
            LoraSwitch.Switch any = on.get(0);
            StringBuilder sb = new StringBuilder();
            sb.append(String.format(Locale.ROOT, "LoRA switch on %s, %s; rank %d kohya LoRA (%d text-encoder + %d UNet modules, "
                            + "%.1f MB F16 file), %d runs (medians)%n", p.name(), compute.label(), rank, modules[0], modules[1],
                    fileBytes / 1e6, repeat));
            sb.append(String.format(Locale.ROOT, "  base -> LoRA 0.8   %8.0f ms  (read %.0f, merge %.0f; process CPU time %.0f ms)%n",
                    median(on, LoraSwitch.Switch::totalMs), median(on, LoraSwitch.Switch::readMs), median(on, LoraSwitch.Switch::mergeMs),
                    medianOf(onCpu)));
            sb.append(String.format(Locale.ROOT, "  LoRA 0.8 -> 0.5    %8.0f ms  (restore %.2f, read %.0f, merge %.0f; process CPU time %.0f ms)%n",
                    median(other, LoraSwitch.Switch::totalMs), median(other, LoraSwitch.Switch::restoreMs),
                    median(other, LoraSwitch.Switch::readMs), median(other, LoraSwitch.Switch::mergeMs), medianOf(otherCpu)));
            sb.append(String.format(Locale.ROOT, "  LoRA -> base       %8.2f ms  (restore)%n", median(off, LoraSwitch.Switch::totalMs)));
            sb.append(String.format(Locale.ROOT, "  merged weights     %d layers, %.1f MB beside the base weights%n",
                    any.layers(), any.patchBytes() / 1e6));
            if (steps > 0) {
                GenerationRequest r = new GenerationRequest(base, "", steps, 7.5, seed, SamplerKind.DEFAULT, null, null, width, height);
                GenerationResult plain = p.generate(r);
                GenerationResult withLora = p.generate(new GenerationRequest(base + " <lora:bench:0.8>", "", steps, 7.5, seed,
                        SamplerKind.DEFAULT, null, null, width, height));
                // the second generation with the LoRA already merged: its denoising time is the per-step cost
                GenerationResult merged = p.generate(new GenerationRequest(base + " <lora:bench:0.8>", "", steps, 7.5, seed,
                        SamplerKind.DEFAULT, null, null, width, height));
                sb.append(String.format(Locale.ROOT, "  generation %dx%d, %d steps: denoise %.0f ms without, %.0f ms with the LoRA "
                                + "merged; first LoRA request %.0f ms in all vs %.0f ms (includes the switch)%n",
                        plain.request().width(), plain.request().height(), steps, (double) plain.timings().denoiseMs(),
                        (double) merged.timings().denoiseMs(), (double) withLora.timings().totalMs(),
                        (double) plain.timings().totalMs()));
            }
            return sb.toString();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            try (var s = Files.list(dir)) {
                for (Path f : s.toList()) {
                    Files.deleteIfExists(f);
                }
                Files.deleteIfExists(dir);
            } catch (IOException ignored) {
                // a temp folder
            }
        }
    }

    /** Takes and releases a lease on the prompt's LoRAs (switching when needed); the switch's cost. */
    private static LoraSwitch.Switch cycle(StableDiffusionPipeline p, String prompt) {
        try (LoraSwitch.Lease lease = p.loras().use(prompt)) {
            return p.loras().lastSwitch();
        }
    }

    private static double median(List<LoraSwitch.Switch> l, java.util.function.ToDoubleFunction<LoraSwitch.Switch> f) {
        return medianOf(l.stream().map(f::applyAsDouble).toList());
    }

    private static double medianOf(List<Double> l) {
        double[] v = l.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    /** CPU time of the whole process (all threads, libtorch's included), ms; NaN where the JVM cannot tell. */
    private static double cpuMs() {
        if (java.lang.management.ManagementFactory.getOperatingSystemMXBean()
                instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getProcessCpuTime() / 1e6;
        }
        return Double.NaN;
    }

    /**
     * Writes a random kohya LoRA for the pipeline: {@code lora_te_<module>} for every text-encoder layer and
     * {@code lora_unet_<module>} for every layer inside the UNet's {@code attentions} (the transformer blocks'
     * linears, {@code proj_in} / {@code proj_out}), rank {@code rank}, alpha rank / 2, F16.
     *
     * @return {text-encoder modules, UNet modules}
     */
    static int[] writeRandomLora(StableDiffusionPipeline p, int rank, Path file, long seed) throws IOException {
        SplittableRandom random = new SplittableRandom(seed ^ 0x5EEDL);
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        int[] counts = new int[2];
        try (NDManager m = NDManager.newBaseManager(ai.djl.Device.cpu())) {
            for (int c = 0; c < 2; c++) {
                Map<String, Patchable> layers = c == 0 ? p.textEncoder().layers() : p.unet().layers();
                String prefix = c == 0 ? "lora_te_" : "lora_unet_";
                for (Map.Entry<String, Patchable> e : layers.entrySet()) {
                    if (c == 1 && !e.getKey().contains(".attentions.")) {
                        continue;
                    }
                    long[] s = e.getValue().baseWeight().getShape().getShape();
                    String key = prefix + e.getKey().substring(0, e.getKey().length() - ".weight".length()).replace('.', '_');
                    long in = s[1];
                    long[] downShape = s.length == 4 ? new long[] {rank, in, s[2], s[3]} : new long[] {rank, in};
                    long[] upShape = s.length == 4 ? new long[] {s[0], rank, 1, 1} : new long[] {s[0], rank};
                    tensors.put(key + ".lora_down.weight", randomHalf(m, random, downShape, 1 / Math.sqrt(in)));
                    tensors.put(key + ".lora_up.weight", randomHalf(m, random, upShape, 0.01));
                    tensors.put(key + ".alpha", m.create(new float[] {rank / 2f}, new Shape()).toType(DataType.FLOAT16, false));
                    counts[c]++;
                }
            }
            SafeTensors.write(file, tensors, Map.of("ss_network_module", "networks.lora", "ss_network_dim",
                    Integer.toString(rank), "ss_network_alpha", Double.toString(rank / 2.0), "ss_base_model_version",
                    p.family() == dev.tenstep.model.lora.LoraNetwork.Family.SD2 ? "sd_v2" : "sd_v1", "ss_output_name", "bench"));
        }
        return counts;
    }

    private static NDArray randomHalf(NDManager m, SplittableRandom random, long[] shape, double bound) {
        float[] v = new float[Math.toIntExact(Arrays.stream(shape).reduce(1, (a, b) -> a * b))];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
        }
        return m.create(v, new Shape(shape)).toType(DataType.FLOAT16, false);
    }
}
