package dev.tenstep.io;

import java.io.IOException;
import java.nio.file.Path;

/** A safetensors file that cannot be used: truncated, malformed header, bad offsets or dtype. The message names the file and, where known, the tensor. */
public class SafeTensorsException extends IOException {
    public SafeTensorsException(Path file, String message) {
        super(file + ": " + message);
    }

    public SafeTensorsException(Path file, String tensor, String message) {
        super(file + ": tensor '" + tensor + "': " + message);
    }
}
