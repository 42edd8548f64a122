package dev.tenstep.pipeline;

/**
 * A generation produced NaN or infinite values: the message names the stage (e.g. the denoising
 * loop under fp16, or the VAE decode), so a numerical failure is reported instead of being written
 * as a black PNG. Typical cause: half precision overflowing (try {@code --dtype fp32} or
 * {@code --vae-dtype fp32}).
 */
public final class NonFiniteException extends RuntimeException {
    public NonFiniteException(String message) {
        super(message);
    }

    /**
     * @param values the stage's output, row-major
     * @param stage  where it came from, for the message
     * @throws NonFiniteException naming the stage and the count of NaN and infinite values
     */
    public static void check(float[] values, String stage) {
        int nan = 0;
        int inf = 0;
        for (float v : values) {
            if (Float.isNaN(v)) {
                nan++;
            } else if (Float.isInfinite(v)) {
                inf++;
            }
        }
        if (nan + inf > 0) {
            throw new NonFiniteException(stage + " produced " + nan + " NaN and " + inf + " infinite value(s) out of "
                    + values.length + "; nothing was written (half precision overflowing? try --dtype fp32 or --vae-dtype fp32)");
        }
    }
}
