package dev.tenstep.bench;

import dev.tenstep.pipeline.TextToImage;
import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;
import dev.tenstep.model.nn.Profiler;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.Img2Img;
import dev.tenstep.pipeline.InitImage;
import dev.tenstep.pipeline.ResolvedRequest;
import dev.tenstep.pipeline.GenerationResult;
import dev.tenstep.pipeline.GenerationRecord;
import dev.tenstep.pipeline.PipelineAssembler;
import dev.tenstep.pipeline.StableDiffusionPipeline;
import dev.tenstep.sampling.SamplerKind;

import java.io.IOException;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import dev.tenstep.model.nn.Ops;
import java.lang.management.OperatingSystemMXBean;

/**
 * Runs the Stable Diffusion pipeline as {@code bench} measures it: model load, then
 * {@code warmup} unmeasured and {@code repeat} measured generations of one prompt. Per generation it
 * records the text encoder time, each denoising step (one UNet evaluation, CFG batch 2: the time
 * between consecutive step callbacks, the first counted from the end of the text encoder), the
 * VAE decode and the whole call; a background thread samples the resident set from /proc.
 *
 * <p>On a GPU every figure is synchronised: each ends in a device-to-host copy (the prompt
 * embedding, the step's x0-hat handed to the step callback, the decoded pixels), which waits for the
 * device's queued kernels, so the times are compute times, not launch times. GPU memory is sampled
 * as the device's used memory ({@code cudaMemGetInfo}: PyTorch's cached blocks and other processes
 * included; DJL exposes no allocator peak).
 */
public final class Bench {
    static final String PROMPT = "a photograph of an astronaut riding a horse";
    private final BenchOptions o;
    private final PrintWriter log;

    public Bench(BenchOptions options, PrintWriter log) {
        this.o = options;
        this.log = log;
    }

    /** Intra-op threads: {@code threads} when &gt; 0, else the machine's cores. Call before the first op. */
    public static int configureThreads(int threads) {
        int n = threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
        System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(n));
        Engine.getEngine("PyTorch");
        if (JniUtils.getNumThreads() != n) {
            JniUtils.setNumThreads(n);
        }
        return JniUtils.getNumThreads();
    }

    public BenchResult run() {
        String oldThreadsProperty = System.getProperty("ai.djl.pytorch.num_threads");
        Engine.getEngine("PyTorch");
        int oldThreads = JniUtils.getNumThreads();
        // the attention setting goes to the pipeline in o.compute()
        try (RssSampler rss = new RssSampler(10)) {
            return measure(rss);
        } finally {
            // the thread count is process-wide: give the caller (e.g. other tests in this JVM) its own back
            JniUtils.setNumThreads(oldThreads);
            restore("ai.djl.pytorch.num_threads", oldThreadsProperty);
        }
    }

    private static void restore(String key, String value) {
        if (value == null) {
            System.clearProperty(key);
        } else {
            System.setProperty(key, value);
        }
    }

    private BenchResult measure(RssSampler rss) {
        BenchResult r = new BenchResult();
        r.put("model", o.model().toString());
        r.put("random_weights", o.randomWeights());
        String loadBefore = loadAverage();
        int threads = configureThreads(o.threads());
        r.put("threads", threads);
        r.put("allocator", allocator());
        r.put("attention_slice", o.attention().label());
        r.put("attention_fused", Ops.fusedAttention(o.compute().attention()));
        r.put("attention_budget_mb", o.attention().budgetBytes() >> 20);
        r.put("rss_before_load_mb", round1(RssSampler.currentMb()));

        long t0 = System.nanoTime();
        r.put("device", o.compute().deviceName());
        r.put("dtype", o.compute().dtype().id());
        r.put("vae_dtype", o.compute().vaeDtype().id());
        try (GpuMemorySampler gpu = new GpuMemorySampler(o.compute().device(), 10);
             StableDiffusionPipeline p = o.randomWeights() ? PipelineAssembler.randomWeights(o.model(), o.seed(), o.compute())
                : PipelineAssembler.load(o.model(), o.compute())) {
            double loadMs = ms(System.nanoTime() - t0);
            gpu.markLoaded();
            r.put("rss_after_load_mb", round1(RssSampler.currentMb()));
            GenerationRequest request = new GenerationRequest(PROMPT, "", o.steps(), o.cfgScale(), o.seed(),
                    SamplerKind.GE, null, null, o.width(), o.height());
            if (o.strength() != null) {
                int w = o.width() != null ? o.width() : p.defaultSize();
                int h = o.height() != null ? o.height() : p.defaultSize();
                request = request.withSize(w, h).withImg2Img(new Img2Img(gradient(w, h), o.strength(), null));
            }
            ResolvedRequest req = p.resolve(request);
            // the generation's parameters in the layout of every other generation record (sidecar, manifest)
            r.put("request", GenerationRecord.ofRequest(req, p.name()));
            r.put("unet_batch", o.cfgScale() > 1 ? 2 : 1);
            r.put("warmup", o.warmup());
            r.put("repeat", o.repeat());
            log.printf("bench: loaded %s in %.0f ms (RSS %.0f MiB)%n", p.name(), loadMs, RssSampler.currentMb());
            log.flush();

            for (int i = 0; i < o.warmup(); i++) {
                Run w = generate(p, req);
                log.printf("bench: warmup %d: %.1f s%n", i + 1, w.totalMs / 1000);
                log.flush();
            }
            // the measured runs only: a profiler of this bench, active on this thread (generate runs here)
            Profiler profiler = o.profile() ? new Profiler() : null;
            rss.resetWindow();
            List<Double> text = new ArrayList<>();
            List<Double> steps = new ArrayList<>();
            List<Double> vae = new ArrayList<>();
            List<Double> total = new ArrayList<>();
            List<Double> stepCpu = new ArrayList<>();
            List<Double> cpu = new ArrayList<>();
            try (Profiler.Scope profiling = profiler != null ? profiler.activate() : Profiler.Scope.NONE) {
                for (int i = 0; i < o.repeat(); i++) {
                    Run m = generate(p, req);
                    text.add(m.textMs);
                    steps.addAll(m.stepMs);
                    vae.add(m.vaeMs);
                    total.add(m.totalMs);
                    stepCpu.addAll(m.stepCpuMs);
                    cpu.add(m.cpuMs);
                    log.printf("bench: run %d: text %.0f ms, steps %s ms, vae %.0f ms, total %.1f s%n", i + 1, m.textMs,
                            m.stepMs.stream().map(d -> String.format("%.0f", d)).toList(), m.vaeMs, m.totalMs / 1000);
                    log.flush();
                }
            }
            double textMed = median(text);
            double stepMed = median(steps);
            double vaeMed = median(vae);
            double totalMed = median(total);
            r.put("load_ms", round1(loadMs));
            r.put("text_encoder_ms", round1(textMed));
            r.put("unet_step_ms_median", round1(stepMed));
            r.put("unet_step_ms_min", round1(Collections.min(steps)));
            r.put("unet_steps_measured", steps.size());
            r.put("vae_decode_ms", round1(vaeMed));
            r.put("pipeline_s", round3(totalMed / 1000));
            double parts = textMed + o.steps() * stepMed + vaeMed;
            r.put("pipeline_over_parts", round3(totalMed / parts));
            // CPU time of the process (all threads): less sensitive than wall time to other load on a shared machine
            if (!stepCpu.isEmpty()) {
                r.put("unet_step_cpu_ms_median", round1(median(stepCpu)));
            }
            r.put("pipeline_cpu_s", round3(median(cpu) / 1000));
            r.put("peak_rss_mb", round1(RssSampler.peakMb()));
            r.put("peak_rss_sampled_mb", round1(rss.maxSampledMb()));
            r.put("peak_rss_runs_sampled_mb", round1(rss.windowMaxMb()));
            Runtime rt = Runtime.getRuntime();
            r.put("heap_used_mb", round1((rt.totalMemory() - rt.freeMemory()) / 1048576.0));
            r.put("heap_peak_mb", round1(heapPeakMb()));
            r.put("load_average", loadBefore + " -> " + loadAverage());
            if (gpu.active()) {
                r.put("gpu_memory_used_after_load_mb", round1(gpu.afterLoadMb()));
                r.put("gpu_memory_used_peak_sampled_mb", round1(gpu.peakMb()));
                r.put("gpu_memory_total_mb", round1(gpu.totalMb()));
            }
            if (o.profile()) {
                r.setProfile(profiler.snapshot());
            }
            return r;
        }
    }

    /** One generation's figures, ms. */
    private record Run(double textMs, List<Double> stepMs, List<Double> stepCpuMs, double vaeMs, double totalMs,
                       double cpuMs) {
    }

    /** A smooth synthetic init image (a diagonal RGB gradient) for the img2img bench. */
    static InitImage gradient(int w, int h) {
        int[][] rgb = new int[3][w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                rgb[0][y * w + x] = 255 * x / Math.max(1, w - 1);
                rgb[1][y * w + x] = 255 * y / Math.max(1, h - 1);
                rgb[2][y * w + x] = 255 - 255 * (x + y) / Math.max(1, w + h - 2);
            }
        }
        return new InitImage(w, h, rgb, dev.tenstep.io.Hashes.sha256(("gradient " + w + "x" + h)
                .getBytes(java.nio.charset.StandardCharsets.UTF_8)), "gradient");
    }

    private Run generate(StableDiffusionPipeline p, ResolvedRequest req) {
        List<Long> marks = new ArrayList<>();
        List<Long> cpuMarks = new ArrayList<>();
        long cpuStart = processCpuNanos();
        long start = System.nanoTime();
        GenerationResult res = p.generate(req, null, TextToImage.Options.DEFAULT.withListener(s -> {
            marks.add(System.nanoTime());
            cpuMarks.add(processCpuNanos());
            return true;
        }));
        long end = System.nanoTime();
        long cpuEnd = processCpuNanos();
        GenerationResult.Timings t = res.timings();
        List<Double> steps = new ArrayList<>();
        long prev = start + t.textEncoderMs() * 1_000_000L;
        for (long m : marks) {
            steps.add(ms(m - prev));
            prev = m;
        }
        List<Double> cpu = new ArrayList<>();
        for (int i = 1; i < cpuMarks.size(); i++) {
            cpu.add(ms(cpuMarks.get(i) - cpuMarks.get(i - 1)));
        }
        return new Run(t.textEncoderMs(), steps, cpu, t.decodeMs(), ms(end - start), ms(cpuEnd - cpuStart));
    }

    /** CPU time of the whole process (all threads, user + system), ns; -1 if unavailable. */
    static long processCpuNanos() {
        OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun) {
            return sun.getProcessCpuTime();
        }
        return -1;
    }

    static double median(List<Double> xs) {
        List<Double> s = new ArrayList<>(xs);
        Collections.sort(s);
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }

    private static double heapPeakMb() {
        long sum = 0;
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getType() == MemoryType.HEAP && pool.getPeakUsage() != null) {
                sum += pool.getPeakUsage().getUsed();
            }
        }
        return sum / 1048576.0;
    }

    /** "tcmalloc" when libtcmalloc is mapped into this process (LD_PRELOAD), else "glibc". */
    static String allocator() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
                if (line.contains("tcmalloc")) {
                    return "tcmalloc";
                }
                if (line.contains("jemalloc")) {
                    return "jemalloc";
                }
            }
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
        return "glibc";
    }

    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }

    static double round1(double v) {
        return Math.round(v * 10) / 10.0;
    }

    static double round3(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

}
