package dev.tenstep.fidelity;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.ResolvedRequest;
import dev.tenstep.pipeline.TextToImage;
import dev.tenstep.sampling.Denoiser;
import dev.tenstep.sampling.LatentSampler;
import dev.tenstep.sampling.NoiseSchedule;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.SeededRandom;
import dev.tenstep.sampling.SigmaSchedule;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;

/**
 * A sampler fidelity study: how close N steps of a sampler get to the converged solution of the same
 * probability-flow ODE. For every prompt and seed, the seed's initial latent z ~ N(0, I) is solved
 * <ul>
 *   <li>by every sampler:schedule pair at every N, starting at its schedule's top level {@code s_0} as the
 *       product runs it ({@code x = z * sqrt(1 + s_0^2)}, docs/samplers.md);</li>
 *   <li>by a <b>reference</b>: DDIM on the continuous log-linear schedule ({@link #referenceSchedule}) with
 *       {@code referenceSteps} steps from the same z and the same starting level ({@link ReferenceStart#RUN}, the
 *       default: one reference per distinct {@code s_0}, so the distance is the discretisation error of that
 *       run's ODE and nothing else), or from {@code sigma(T-1)} for every run ({@link ReferenceStart#SIGMA_MAX},
 *       the convention of the project's {@code ideal-denoiser} fixture: the distance then also contains the
 *       effect of starting lower, which does not vanish as N grows).</li>
 * </ul>
 * A run whose schedule ends at sigma = 0 (karras) is compared with its reference followed by the same final
 * step sigma(0) -&gt; 0 ({@code x = x0_hat}), so both end at the same level.
 * The reference's own convergence is the rms distance to the same solve with {@code checkSteps} (default half as
 * many) steps, measured for the reference that starts highest (the longest path at the same step count).
 * The distance of a run to the reference is the latent RMSE in z (the latent the decoder sees) and the PSNR of the
 * decoded pixels in [0, 1] ({@code 10 log10(1 / MSE)}, capped at {@link #PSNR_CAP} dB for identical images).
 */
public final class FidelityStudy {
    /** PSNR reported for identical images. */
    public static final double PSNR_CAP = 100.0;
    public static final List<Integer> DEFAULT_STEPS = List.of(5, 10, 20);
    public static final int DEFAULT_REFERENCE_STEPS = 1000;

    /**
     * What to run.
     *
     * @param prompts        prompts (at least one)
     * @param negativePrompt the negative prompt ("" = unconditional)
     * @param guidanceScale  classifier-free guidance scale w
     * @param seeds          seeds of the initial latents (at least one)
     * @param samplers       the sampler:schedule pairs
     * @param steps          the step counts N
     * @param referenceSteps steps of the reference solve (&gt;= 2)
     * @param checkSteps     steps of the reference's convergence check (0 = skip; default referenceSteps / 2)
     * @param threads        seeds solved in parallel (&gt;= 1)
     * @param referenceStart where the reference starts
     */
    public record Options(List<String> prompts, String negativePrompt, double guidanceScale, List<Long> seeds,
                          List<SamplerSpec> samplers, List<Integer> steps, int referenceSteps, int checkSteps,
                          int threads, ReferenceStart referenceStart) {
        /** @throws IllegalArgumentException naming the invalid field */
        public Options {
            prompts = List.copyOf(prompts);
            negativePrompt = negativePrompt == null ? "" : negativePrompt;
            seeds = List.copyOf(seeds);
            samplers = List.copyOf(samplers);
            steps = List.copyOf(steps);
            if (prompts.isEmpty()) {
                throw new IllegalArgumentException("at least one prompt is required");
            }
            if (seeds.isEmpty()) {
                throw new IllegalArgumentException("at least one seed is required");
            }
            if (samplers.isEmpty()) {
                throw new IllegalArgumentException("at least one sampler is required");
            }
            // runs are summarised by sampler:schedule; a second GE with another gamma would merge with the first
            samplers.stream().filter(x -> x.gamma() != null).findFirst().ifPresent(x -> {
                throw new IllegalArgumentException("sampler '" + x.label() + "': the fidelity study runs each sampler "
                        + "at its default gamma (use 'accuracy' to compare gamma values)");
            });
            if (steps.isEmpty() || steps.stream().anyMatch(n -> n < 1)) {
                throw new IllegalArgumentException("steps must be a non-empty list of numbers >= 1, got " + steps);
            }
            if (referenceSteps < 2) {
                throw new IllegalArgumentException("reference steps must be >= 2, got " + referenceSteps);
            }
            if (checkSteps < 0 || checkSteps >= referenceSteps) {
                throw new IllegalArgumentException("check steps must be in [0, reference steps), got " + checkSteps);
            }
            if (!Double.isFinite(guidanceScale)) {
                throw new IllegalArgumentException("guidance scale must be finite, got " + guidanceScale);
            }
            if (threads < 1) {
                throw new IllegalArgumentException("threads must be >= 1, got " + threads);
            }
            referenceStart = referenceStart == null ? ReferenceStart.RUN : referenceStart;
        }
    }

    /** Where the reference solve starts (see the class comment). */
    public enum ReferenceStart {
        /** At each run's own top level s_0, from the same z. */
        RUN,
        /** At sigma(T-1) for every run. */
        SIGMA_MAX
    }

    /**
     * One run: a sampler at N steps from one seed, and its distance to that seed's reference.
     *
     * @param sigmaStart the run's top level s_0
     * @param latentRmse rms of z - z_reference
     * @param psnr       dB of the decoded pixels against the reference's
     */
    public record Run(String prompt, long seed, String sampler, String schedule, int steps, double sigmaStart,
                      double latentRmse, double psnr) {
    }

    /** The reference's convergence for one seed: rms distance (z) between the reference and the check solve. */
    public record Check(String prompt, long seed, double rms) {
    }

    private final TextToImage model;
    private final Integer size;
    private final Options options;

    /** A study of a model at its default image size. */
    public FidelityStudy(TextToImage model, Options options) {
        this(model, null, options);
    }

    /**
     * @param model   the model: its training table, latent shape, guided denoiser ({@link TextToImage#condition})
     *                and decoder
     * @param size    image width and height in pixels, or null for the model's default size
     * @param options what to run
     */
    public FidelityStudy(TextToImage model, Integer size, Options options) {
        this.model = Objects.requireNonNull(model, "model");
        this.size = size;
        this.options = Objects.requireNonNull(options, "options");
    }

    /**
     * The request a prompt is studied with: one step (the sampler and schedule come from the study), the study's
     * negative prompt, guidance scale and size, the default prompt syntax and clip skip.
     *
     * @throws dev.tenstep.pipeline.InvalidRequestException if the prompt or the size is invalid for the model
     */
    private ResolvedRequest request(String prompt) {
        return model.resolve(new GenerationRequest(prompt, options.negativePrompt(), 1, options.guidanceScale(), 0,
                null, null, null, size, size));
    }

    /**
     * The model's guided denoiser for a prompt ({@link TextToImage#condition}); its arrays live in {@code manager},
     * which the caller keeps open while sampling.
     *
     * @throws IllegalArgumentException if the prompt is invalid for the model (e.g. no ideal-model caption matches)
     */
    public Denoiser denoiser(NDManager manager, String prompt) {
        return model.condition(request(prompt), null, manager).denoiser();
    }

    /** The latent shape of one image of the study, [1, C, h, w] (NCHW). */
    public long[] latentShape() {
        return model.latentShape(request(options.prompts().get(0)));
    }

    /**
     * Decodes a final latent z (row-major, {@link #latentShape()}) to RGB pixels [3, H, W] in [0, 1]: the model's
     * decoder, then {@code clamp((x + 1) / 2, 0, 1)} (not rounded to 8 bits).
     */
    public float[] decode(float[] latent) {
        try (NDManager m = model.newManager()) {
            float[] px = model.decode(m.create(latent, new Shape(latentShape()))).toFloatArray();
            for (int i = 0; i < px.length; i++) {
                px[i] = Math.min(1f, Math.max(0f, (px[i] + 1f) / 2f));
            }
            return px;
        }
    }

    /**
     * N + 1 noise levels geometric from {@code sigma(T-1)} to {@code sigma(0)}, fractional timesteps: the
     * {@code log-linear-continuous} schedule, here without its {@code N <= T} limit (a reference solve may take
     * more steps than the model was trained with).
     *
     * @throws IllegalArgumentException if steps &lt; 1
     */
    public static SigmaSchedule referenceSchedule(NoiseSchedule ns, int steps) {
        return referenceSchedule(ns, steps, ns.sigmaMax());
    }

    /**
     * As {@link #referenceSchedule(NoiseSchedule, int)}, geometric from {@code sigmaStart} (in
     * (sigma(0), sigma(T-1)]) to {@code sigma(0)}.
     *
     * @throws IllegalArgumentException if steps &lt; 1 or sigmaStart is out of range
     */
    public static SigmaSchedule referenceSchedule(NoiseSchedule ns, int steps, double sigmaStart) {
        return referenceSchedule(ns, steps, sigmaStart, false);
    }

    /**
     * As {@link #referenceSchedule(NoiseSchedule, int, double)}; with {@code toZero} one more step from sigma(0)
     * to 0 (timestep 0) is appended.
     */
    public static SigmaSchedule referenceSchedule(NoiseSchedule ns, int steps, double sigmaStart, boolean toZero) {
        if (steps < 1) {
            throw new IllegalArgumentException("reference steps must be >= 1, got " + steps);
        }
        if (!(sigmaStart > ns.sigmaMin() && sigmaStart <= ns.sigmaMax() * (1 + 1e-12))) {
            throw new IllegalArgumentException("reference start level must be in (" + ns.sigmaMin() + ", "
                    + ns.sigmaMax() + "], got " + sigmaStart);
        }
        double lHi = Math.log(sigmaStart);
        double lLo = Math.log(ns.sigmaMin());
        double[] sig = new double[steps + 1];
        double[] t = new double[steps];
        for (int k = 0; k <= steps; k++) {
            sig[k] = Math.exp(lHi + ((double) k / steps) * (lLo - lHi));
        }
        sig[0] = sigmaStart;
        sig[steps] = ns.sigmaMin();
        for (int k = 0; k < steps; k++) {
            t[k] = ns.timestepOf(sig[k]);
        }
        if (toZero) {
            sig = java.util.Arrays.copyOf(sig, steps + 2);
            t = java.util.Arrays.copyOf(t, steps + 1);
            t[steps] = ns.timestepOf(sig[steps]);
        }
        return new SigmaSchedule(sig, t, "log-linear-continuous");
    }

    /**
     * The one step sigma(0) -&gt; 0 that ends a reference for runs ending at 0. Starting the sampler on it from a
     * latent z at sigma(0) gives {@code x0_hat}: {@code solve} scales z by {@code sqrt(1 + sigma(0)^2)}, the
     * inverse of the reference's final scaling, so the composition is exact.
     */
    static SigmaSchedule finalStep(NoiseSchedule ns) {
        return new SigmaSchedule(new double[] {ns.sigmaMin(), 0.0}, new double[] {ns.timestepOf(ns.sigmaMin())},
                "final-step");
    }

    /**
     * Solves from z with a sampler and a schedule.
     *
     * @return zFinal, row-major {@code shape}
     */
    public static float[] solve(LatentSampler sampler, Denoiser denoiser, float[] zInit, long[] shape, SigmaSchedule schedule) {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray z = m.create(zInit, new Shape(shape));
            return sampler.sample(denoiser, z, schedule, null, null).toFloatArray();
        }
    }

    /** Root mean square of a - b. */
    public static double rms(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new IllegalArgumentException("lengths differ: " + a.length + " vs " + b.length);
        }
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            double d = (double) a[i] - b[i];
            s += d * d;
        }
        return Math.sqrt(s / a.length);
    }

    /** PSNR in dB of two pixel arrays in [0, 1]: {@code 10 log10(1 / MSE)}, at most {@link #PSNR_CAP}. */
    public static double psnr(float[] a, float[] b) {
        double r = rms(a, b);
        return r == 0 ? PSNR_CAP : Math.min(PSNR_CAP, -20 * Math.log10(r));
    }

    /**
     * Runs the study.
     *
     * @param progress receives one line per finished seed (may be null)
     * @throws IllegalArgumentException if a prompt is invalid for the model or a step count exceeds T
     */
    public FidelityResult run(Consumer<String> progress) {
        NoiseSchedule ns = model.noiseSchedule();
        for (SamplerSpec s : options.samplers()) {
            for (int n : options.steps()) {
                s.schedule(ns, n); // fail early on N > T
            }
        }
        for (String p : options.prompts()) {
            request(p); // fail early on bad prompts
        }
        record Task(String prompt, long seed) {
        }
        record Outcome(List<Run> runs, Check check) {
        }
        List<Task> tasks = new ArrayList<>();
        for (String p : options.prompts()) {
            for (long seed : options.seeds()) {
                tasks.add(new Task(p, seed));
            }
        }
        ExecutorService pool = Executors.newFixedThreadPool(Math.min(options.threads(), tasks.size()));
        try {
            List<Future<Outcome>> futures = new ArrayList<>();
            int[] done = {0};
            for (Task task : tasks) {
                futures.add(pool.submit(() -> {
                    List<Run> runs = new ArrayList<>();
                    Check check = solveSeed(task.prompt(), task.seed(), runs);
                    if (progress != null) {
                        synchronized (done) {
                            done[0]++;
                            progress.accept(String.format("seed %d (%s): %d of %d done%s", task.seed(), task.prompt(),
                                    done[0], tasks.size(), check == null ? "" : String.format(
                                            "; reference vs %d steps: rms %.2e", options.checkSteps(), check.rms())));
                        }
                    }
                    return new Outcome(runs, check);
                }));
            }
            List<Run> runs = new ArrayList<>();
            List<Check> checks = new ArrayList<>();
            for (Future<Outcome> f : futures) {
                Outcome o = f.get();
                runs.addAll(o.runs());
                if (o.check() != null) {
                    checks.add(o.check());
                }
            }
            return new FidelityResult(model.name(), options, ns.sigmaMax(), runs, checks);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.util.concurrent.CancellationException("fidelity study interrupted");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException(e.getCause());
        } finally {
            pool.shutdownNow();
        }
    }

    private Check solveSeed(String prompt, long seed, List<Run> runs) {
        long[] shape = latentShape();
        try (NDManager m = model.newManager()) {
            Denoiser denoiser = denoiser(m, prompt);
            float[] z = SeededRandom.latent(seed, m, new Shape(shape)).toFloatArray();
            return measure(denoiser, z, prompt, seed, runs);
        }
    }

    /**
     * Measures every sampler and N from one initial latent against its reference(s).
     *
     * @param z    the initial latent, row-major {@link #latentShape()}
     * @param runs receives one {@link Run} per sampler and N
     * @return the reference's convergence check, or null when skipped
     */
    public Check measure(Denoiser denoiser, float[] z, String prompt, long seed, List<Run> runs) {
        NoiseSchedule ns = model.noiseSchedule();
        long[] shape = latentShape();
        LatentSampler ddim = SamplerKind.DDIM.sampler();
        java.util.Map<List<Double>, float[]> refs = new java.util.HashMap<>();
        java.util.Map<List<Double>, float[]> refPixels = new java.util.HashMap<>();
        java.util.function.DoubleFunction<Double> startOf = s0 ->
                options.referenceStart() == ReferenceStart.SIGMA_MAX ? ns.sigmaMax() : s0;
        double highest = 0;
        for (SamplerSpec s : options.samplers()) {
            for (int n : options.steps()) {
                highest = Math.max(highest, startOf.apply(s.schedule(ns, n).sigma(0)));
            }
        }
        for (SamplerSpec s : options.samplers()) {
            for (int n : options.steps()) {
                SigmaSchedule sch = s.schedule(ns, n);
                double start = startOf.apply(sch.sigma(0));
                boolean toZero = sch.sigma(sch.steps()) == 0;
                float[] toMin = refs.computeIfAbsent(List.of(start, ns.sigmaMin()), k -> solve(ddim, denoiser, z, shape,
                        referenceSchedule(ns, options.referenceSteps(), start)));
                // ending at 0: the same solve plus the final step sigma(0) -> 0, x = x0_hat (shared, not re-solved)
                float[] ref = !toZero ? toMin : refs.computeIfAbsent(List.of(start, 0.0),
                        k -> solve(ddim, denoiser, toMin, shape, finalStep(ns)));
                float[] px = refPixels.computeIfAbsent(List.of(start, toZero ? 0.0 : ns.sigmaMin()), k -> decode(ref));
                float[] out = solve(s.method(), denoiser, z, shape, sch);
                runs.add(new Run(prompt, seed, s.sampler(), s.schedule(), n, sch.sigma(0), rms(out, ref),
                        psnr(decode(out), px)));
            }
        }
        if (options.checkSteps() == 0) {
            return null;
        }
        double top = highest;
        float[] ref = refs.get(List.of(top, ns.sigmaMin()));
        if (ref == null) {
            ref = solve(ddim, denoiser, z, shape, referenceSchedule(ns, options.referenceSteps(), top));
        }
        float[] half = solve(ddim, denoiser, z, shape, referenceSchedule(ns, options.checkSteps(), top));
        return new Check(prompt, seed, rms(ref, half));
    }
}
