package dev.tenstep.model.nn;

import java.util.Locale;
import java.util.Objects;

/**
 * How {@link Ops#attention} and {@link Ops#attentionHeads} compute {@code softmax(q k^T * scale) v}:
 * either libtorch's fused kernel ({@link FusedAttention}: tiled, online softmax, the score matrix
 * never materialised), or the score matrix with DJL ops in slices of query rows (diffusers'
 * attention slicing, sized from a memory budget). Both give the same maths; the fused kernel is
 * faster and smaller (docs/performance.md has the figures).
 *
 * <p>The setting travels with the compute settings ({@code pipeline.ComputeSpec#attention}): a pipeline applies
 * its own around each model call with {@link #use}, which holds for the calling thread only and restores the
 * previous setting when closed. The model modules are shared between requests and read {@link #current()} at
 * each attention call; a thread that set none computes with {@link #DEFAULT}. Nothing is process-wide, so two
 * pipelines with different settings can run at once.
 *
 * @param fused       true: the fused kernel (when libtorch provides it, else the sliced path, with a warning)
 * @param sliceRows   sliced path: query rows per slice; {@link #AUTO_ROWS} = from {@code budgetBytes},
 *                    {@link Long#MAX_VALUE} = one slice (no slicing)
 * @param budgetBytes sliced path with {@link #AUTO_ROWS}: bytes of float32 scores one slice may hold
 */
public record AttentionSettings(boolean fused, long sliceRows, long budgetBytes) {
    /** {@link #sliceRows} value meaning "from the memory budget". */
    public static final long AUTO_ROWS = 0;
    /** Budget of one score slice when none is given: 256 MiB. */
    public static final long DEFAULT_BUDGET_BYTES = 256L << 20;
    /** The default: the fused kernel. */
    public static final AttentionSettings DEFAULT = new AttentionSettings(true, AUTO_ROWS, DEFAULT_BUDGET_BYTES);

    /** The setting of each thread that runs model code ({@link #use}); DEFAULT where none was set. */
    private static final ThreadLocal<AttentionSettings> CURRENT = ThreadLocal.withInitial(() -> DEFAULT);

    /** @throws IllegalArgumentException for negative rows or a budget below 1 byte */
    public AttentionSettings {
        if (sliceRows < 0) {
            throw new IllegalArgumentException("attention slice rows must be >= 0, got " + sliceRows);
        }
        if (budgetBytes < 1) {
            throw new IllegalArgumentException("attention budget must be positive, got " + budgetBytes + " bytes");
        }
    }

    /**
     * Parses the {@code --attention-slice} value.
     *
     * @param slice    {@code fused}, {@code auto} (rows from the budget), {@code off} (one slice) or a
     *                 positive number of query rows; case-insensitive
     * @param budgetMb budget of one slice in MiB for {@code auto}; 0 = {@link #DEFAULT_BUDGET_BYTES}
     * @throws IllegalArgumentException naming the accepted values (a negative budget included)
     */
    public static AttentionSettings parse(String slice, long budgetMb) {
        if (budgetMb < 0 || budgetMb > (Long.MAX_VALUE >> 20)) {
            throw new IllegalArgumentException("--attention-budget must be a number of MiB >= 0 (0 = the default, 256), got "
                    + budgetMb);
        }
        long budget = budgetMb > 0 ? budgetMb << 20 : DEFAULT_BUDGET_BYTES;
        String s = slice == null ? "fused" : slice.strip().toLowerCase(Locale.ROOT);
        switch (s) {
            case "", "fused" -> {
                return new AttentionSettings(true, AUTO_ROWS, budget);
            }
            case "auto" -> {
                return new AttentionSettings(false, AUTO_ROWS, budget);
            }
            case "off", "0" -> {
                return new AttentionSettings(false, Long.MAX_VALUE, budget);
            }
            default -> {
                long rows;
                try {
                    rows = Long.parseLong(s);
                } catch (NumberFormatException e) {
                    rows = -1;
                }
                if (rows < 1) {
                    throw new IllegalArgumentException("--attention-slice must be fused, auto, off (or 0) or a positive number "
                            + "of query rows, got '" + slice + "'");
                }
                return new AttentionSettings(false, rows, budget);
            }
        }
    }

    /** The value as {@code --attention-slice} spells it: {@code fused}, {@code auto}, {@code off} or N. */
    public String label() {
        if (fused) {
            return "fused";
        }
        return sliceRows == AUTO_ROWS ? "auto" : sliceRows == Long.MAX_VALUE ? "off" : Long.toString(sliceRows);
    }

    /**
     * Query rows per slice for an attention with {@code batchHeads} x {@code keys} float32 scores
     * per row: the fixed rows, or as many rows as fit {@link #budgetBytes} (at least 1).
     */
    public long rowsPerSlice(long batchHeads, long keys) {
        if (sliceRows != AUTO_ROWS) {
            return sliceRows;
        }
        long perRow = Math.max(1, batchHeads * keys * 4L);
        return Math.max(1, budgetBytes / perRow);
    }

    /** The setting in force on the calling thread. */
    public static AttentionSettings current() {
        return CURRENT.get();
    }

    /**
     * Makes {@code settings} the calling thread's setting until the returned handle is closed, which restores
     * the previous one (use in try-with-resources, on the same thread; nests).
     */
    public static Scope use(AttentionSettings settings) {
        AttentionSettings previous = CURRENT.get();
        CURRENT.set(Objects.requireNonNull(settings, "settings"));
        return () -> CURRENT.set(previous);
    }

    /** Restores the previous setting on close. */
    @FunctionalInterface
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }
}
