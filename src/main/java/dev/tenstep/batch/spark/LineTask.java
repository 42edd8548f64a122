package dev.tenstep.batch.spark;

import java.io.Serializable;
import java.util.HashMap;

/**
 * One prompt line as the driver ships it to an executor: everything the executor needs to make the line's images
 * exactly as {@code batch} would, in plain strings (the line is parsed again there with the same code).
 *
 * @param file     the input file as given on the command line (names images, keys and messages)
 * @param line     the line's 1-based number (a captions file: the annotation's position)
 * @param index    the line's 0-based index in the batch
 * @param text     the line's text, or the caption
 * @param caption  whether {@code text} is a caption ({@link dev.tenstep.batch.CaptionsFile#entry}) rather than a
 *                 prompt-file line
 * @param seed     the line's seed, chosen by the driver (a random one is drawn there, once)
 * @param previous record key -&gt; the key's latest manifest record (a JSON line) of an earlier run, for the resume
 *                 rule; empty without resume
 */
record LineTask(String file, int line, int index, String text, boolean caption, long seed,
                HashMap<String, String> previous) implements Serializable {
}
