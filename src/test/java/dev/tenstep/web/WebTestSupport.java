package dev.tenstep.web;

import dev.tenstep.pipeline.TextToImage;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.GenerationResult;
import io.javalin.testtools.HttpClient;
import okhttp3.MediaType;
import okhttp3.RequestBody;
import okhttp3.Response;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** Helpers of the web tests: JSON requests and a model that can hold a job at its first step. */
final class WebTestSupport {
    static final ObjectMapper JSON = new ObjectMapper();

    private WebTestSupport() {
    }

    static Response postJson(HttpClient client, String path, String json) {
        return client.request(path, b -> b.post(RequestBody.create(json, MediaType.get("application/json"))));
    }

    /** A POST that may wait for generations (the synchronous A1111 endpoint): a generous read timeout. */
    static Response postJsonSlow(HttpClient client, String path, String json) throws IOException {
        okhttp3.OkHttpClient slow = client.getOkHttp().newBuilder().readTimeout(java.time.Duration.ofMinutes(5)).build();
        return slow.newCall(new okhttp3.Request.Builder().url(client.getOrigin() + path)
                .post(RequestBody.create(json, MediaType.get("application/json"))).build()).execute();
    }

    /**
     * GETs a server-sent event stream with a generous read timeout: on a loaded machine one step
     * (with a VAE preview) can take longer than the client's default 10 s between events.
     */
    static Response eventStream(HttpClient client, String path) throws IOException {
        okhttp3.OkHttpClient slow = client.getOkHttp().newBuilder().readTimeout(java.time.Duration.ofMinutes(5)).build();
        return slow.newCall(new okhttp3.Request.Builder().url(client.getOrigin() + path)
                .header("Accept", "text/event-stream").build()).execute();
    }

    static JsonNode json(Response r) throws IOException {
        return JSON.readTree(r.body().string());
    }

    /** Delegates everything to a real model; test wrappers override {@code generate(ResolvedRequest, PromptEmbedding, Options)}. */
    abstract static class ForwardingModel implements TextToImage {
        final TextToImage real;

        ForwardingModel(TextToImage real) {
            this.real = real;
        }

        @Override
        public String name() {
            return real.name();
        }

        @Override
        public dev.tenstep.pipeline.prompt.PromptEncoder promptEncoder() {
            return real.promptEncoder();
        }

        @Override
        public int maxClipSkip() {
            return real.maxClipSkip();
        }

        @Override
        public String modelHash() {
            return real.modelHash();
        }

        @Override
        public java.nio.file.Path vaeFile() {
            return real.vaeFile();
        }

        @Override
        public String vaeHash() {
            return real.vaeHash();
        }

        @Override
        public void close() {
            real.close();
        }

        @Override
        public boolean isDemo() {
            return real.isDemo();
        }

        @Override
        public dev.tenstep.pipeline.ComputeSpec compute() {
            return real.compute();
        }

        @Override
        public int sizeMultiple() {
            return real.sizeMultiple();
        }

        @Override
        public int defaultSize() {
            return real.defaultSize();
        }

        @Override
        public int maxSize() {
            return real.maxSize();
        }

        @Override
        public dev.tenstep.sampling.NoiseSchedule noiseSchedule() {
            return real.noiseSchedule();
        }

        @Override
        public dev.tenstep.pipeline.ResolvedRequest resolve(GenerationRequest request, int maxSize) {
            return real.resolve(request, maxSize);
        }

        @Override
        public long[] latentShape(dev.tenstep.pipeline.ResolvedRequest resolved) {
            return real.latentShape(resolved);
        }

        @Override
        public float[] initialLatents(dev.tenstep.pipeline.ResolvedRequest resolved) {
            return real.initialLatents(resolved);
        }

        @Override
        public PromptEmbedding encodePrompt(String prompt, String negativePrompt) {
            return real.encodePrompt(prompt, negativePrompt);
        }

        @Override
        public PromptEmbedding encodePrompt(dev.tenstep.pipeline.ResolvedRequest request) {
            return real.encodePrompt(request);
        }

        @Override
        public ai.djl.ndarray.NDManager newManager() {
            return real.newManager();
        }

        @Override
        public Conditioned condition(dev.tenstep.pipeline.ResolvedRequest request, PromptEmbedding embedding,
                                     ai.djl.ndarray.NDManager manager) {
            return real.condition(request, embedding, manager);
        }

        @Override
        public ai.djl.ndarray.NDArray decode(ai.djl.ndarray.NDArray latents) {
            return real.decode(latents);
        }

        @Override
        public GenerationResult generate(dev.tenstep.pipeline.ResolvedRequest request, PromptEmbedding embedding,
                                         Options options) {
            return real.generate(request, embedding, options);
        }

        @Override
        public java.awt.image.BufferedImage preview(dev.tenstep.pipeline.StepProgress step, boolean exact) {
            return real.preview(step, exact);
        }
    }

    /**
     * Wraps a model: every generation stops at its first step until {@link #release} (no
     * sleeping: tests wait on {@link #started}); a prompt of {@code "explode"} fails the job.
     */
    static final class HoldingModel extends ForwardingModel {
        final CountDownLatch started = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        volatile boolean hold = true;

        HoldingModel(TextToImage real) {
            super(real);
        }

        void release() {
            release.countDown();
        }

        void awaitStarted() throws InterruptedException {
            if (!started.await(60, TimeUnit.SECONDS)) {
                throw new AssertionError("the job never started");
            }
        }

        @Override
        public GenerationResult generate(dev.tenstep.pipeline.ResolvedRequest request, PromptEmbedding embedding,
                                         Options options) {
            if (request.prompt().equals("explode")) {
                throw new IllegalStateException("the test generator exploded on purpose");
            }
            TextToImage.Listener listener = options.listener();
            return real.generate(request, embedding, options.withListener(p -> {
                if (hold) {
                    started.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return false;
                    }
                }
                return listener.onStep(p);
            }));
        }

    }

    /**
     * Wraps a model: every generation reports its first step to its listener (so the job has its progress and
     * x0-hat), then waits at a gate until {@link #pass} lets one generation on, or its job is cancelled (the worker's
     * interrupt). {@link #awaitArrival} returns the seeds in the order their generations reached the gate; no sleeping.
     */
    static final class GateModel extends ForwardingModel {
        private final java.util.concurrent.BlockingQueue<Long> arrived = new java.util.concurrent.LinkedBlockingQueue<>();
        private final java.util.concurrent.Semaphore permits = new java.util.concurrent.Semaphore(0);

        GateModel(TextToImage real) {
            super(real);
        }

        /** Lets one waiting (or the next) generation past the gate. */
        void pass() {
            permits.release();
        }

        /** The seed of the next generation to reach the gate. */
        long awaitArrival() throws InterruptedException {
            Long seed = arrived.poll(60, TimeUnit.SECONDS);
            if (seed == null) {
                throw new AssertionError("no generation reached the gate");
            }
            return seed;
        }

        /** Seeds that reached the gate and were not yet taken by {@link #awaitArrival}. */
        java.util.List<Long> pending() {
            return java.util.List.copyOf(arrived);
        }

        @Override
        public GenerationResult generate(dev.tenstep.pipeline.ResolvedRequest request, PromptEmbedding embedding,
                                         Options options) {
            TextToImage.Listener listener = options.listener();
            return real.generate(request, embedding, options.withListener(p -> {
                boolean go = listener.onStep(p);
                if (go && p.step() == 1) {
                    arrived.add(request.seed());
                    try {
                        permits.acquire();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return false;
                    }
                }
                return go;
            }));
        }
    }
}
