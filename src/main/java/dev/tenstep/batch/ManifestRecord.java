package dev.tenstep.batch;

/**
 * One line of {@code manifest.jsonl}: a finished image (written in snake_case by {@link Manifest}).
 *
 * @param key            the cell of the batch: {@code <prompt file name>:<line>#<variant>}
 * @param source         the prompt line, {@code <prompt file as given>:<line>}
 * @param index          0-based index of the prompt line in the batch
 * @param variant        the sampler column: {@code sampler:schedule} (plus {@code :gamma} when not the preset)
 * @param prompt         prompt
 * @param negativePrompt negative prompt
 * @param steps          number of steps N
 * @param cfgScale       classifier-free guidance scale
 * @param seed           seed of the starting noise and per-step noise
 * @param seedBase       the batch's seed base (line seed = base + index unless the line sets one)
 * @param randomSeed     the line asked for a random seed ({@code --seed} negative): {@code seed} was drawn
 *                       at random once for the line (shared by its variants) and {@code --resume} reuses it
 * @param sampler        ddim, ge or ddpm
 * @param schedule       sigma schedule name
 * @param gamma          gradient-estimation weight
 * @param width          image width in pixels
 * @param height         image height in pixels
 * @param model          model folder name
 * @param file           PNG file name, relative to the output folder
 * @param sha256         SHA-256 of the PNG file (hex)
 * @param noiseSha256    SHA-256 of the starting latent z_init as little-endian float32 (hex): equal
 *                       across the {@code --compare} variants of one line
 * @param infotext       the A1111 parameters text stored in the PNG
 * @param timings        wall times in milliseconds
 * @param created        ISO-8601 time the record was written
 */
public record ManifestRecord(
        String key,
        String source,
        int index,
        String variant,
        String prompt,
        String negativePrompt,
        int steps,
        double cfgScale,
        long seed,
        long seedBase,
        boolean randomSeed,
        String sampler,
        String schedule,
        double gamma,
        int width,
        int height,
        String model,
        String file,
        String sha256,
        String noiseSha256,
        String infotext,
        Timings timings,
        String created) {

    /**
     * Wall times in milliseconds.
     *
     * @param textEncoderMs      encoding the prompt (once per line, shared by its variants)
     * @param textEncodingReused whether this variant reused the line's encoding instead of computing it
     * @param denoiseMs          the denoising loop
     * @param decodeMs           the VAE decode
     * @param writeMs            PNG encode, write and fsync
     */
    public record Timings(long textEncoderMs, boolean textEncodingReused, long denoiseMs, long decodeMs, long writeMs) {
    }

    /** Whether this record describes the same generation as {@code other} (ignores timings, hashes, time). */
    public boolean sameGeneration(ManifestRecord o) {
        return key.equals(o.key) && prompt.equals(o.prompt) && negativePrompt.equals(o.negativePrompt)
                && steps == o.steps && cfgScale == o.cfgScale && seed == o.seed && sampler.equals(o.sampler)
                && schedule.equals(o.schedule) && gamma == o.gamma && width == o.width && height == o.height
                && model.equals(o.model) && file.equals(o.file);
    }
}
