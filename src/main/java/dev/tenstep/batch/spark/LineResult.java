package dev.tenstep.batch.spark;

import java.io.Serializable;
import java.util.ArrayList;

/**
 * What an executor made of one {@link LineTask}.
 *
 * @param index    the line's index
 * @param model    the model's name ({@link dev.tenstep.pipeline.TextToImage#name}), null if it did not load
 * @param cells    the line's cells in variant order, or null when the line failed as a whole (its request refused,
 *                 the model not loaded)
 * @param failures the line's failures, in order
 * @param warnings messages for the user (e.g. a prompt in several 75-token chunks)
 */
record LineResult(int index, String model, ArrayList<Cell> cells, ArrayList<Failure> failures,
                  ArrayList<String> warnings) implements Serializable {

    /**
     * One image of the line.
     *
     * @param key       the record key
     * @param record    the image's record as a JSON line: made by this task, or the earlier run's (resume); null when
     *                  the image failed
     * @param generated whether this task made it
     */
    record Cell(String key, String record, boolean generated) implements Serializable {
    }

    /** A failure, as {@link dev.tenstep.batch.BatchRunner.Failure}. */
    record Failure(String source, String variant, String reason) implements Serializable {
    }
}
