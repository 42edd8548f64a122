package dev.tenstep.pipeline;

import java.awt.image.BufferedImage;
import java.util.List;

/**
 * A finished generation.
 *
 * @param image         the decoded RGB image
 * @param request       the resolved request that ran
 * @param infotext      A1111 "parameters" text
 * @param latentShape   [1, C, h, w] of the latents below
 * @param finalLatents  zFinal at pipeline scale, row-major
 * @param x0hatPerStep  the x0-hat preview latent of each step (only when requested, else empty)
 * @param timesteps     the UNet timestep of each step
 * @param sigmas        the N + 1 noise levels of the schedule
 * @param warnings      notes for the user, e.g. a prompt encoded in several 75-token chunks
 * @param timings       stage wall times
 * @param initialLatents the unit-variance starting noise z_init [1, C, h, w] row-major (the seed's draw, or the
 *                      given latents); null when not recorded
 */
public record GenerationResult(
        BufferedImage image,
        ResolvedRequest request,
        String infotext,
        long[] latentShape,
        float[] finalLatents,
        List<float[]> x0hatPerStep,
        double[] timesteps,
        double[] sigmas,
        List<String> warnings,
        Timings timings,
        float[] initialLatents) {

    /** Without the initial latents. */
    public GenerationResult(BufferedImage image, ResolvedRequest request, String infotext, long[] latentShape,
                            float[] finalLatents, List<float[]> x0hatPerStep, double[] timesteps, double[] sigmas,
                            List<String> warnings, Timings timings) {
        this(image, request, infotext, latentShape, finalLatents, x0hatPerStep, timesteps, sigmas, warnings, timings, null);
    }

    /** This result with another infotext and warnings (e.g. the LoRAs' {@code Lora hashes} added). */
    public GenerationResult withInfotext(String text, List<String> notes) {
        return new GenerationResult(image, request, text, latentShape, finalLatents, x0hatPerStep, timesteps, sigmas,
                List.copyOf(notes), timings, initialLatents);
    }

    public long seed() {
        return request.seed();
    }

    /** Stage wall times in milliseconds. */
    public record Timings(long textEncoderMs, long denoiseMs, long decodeMs, long totalMs) {
    }
}
