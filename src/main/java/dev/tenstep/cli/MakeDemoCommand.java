package dev.tenstep.cli;

import dev.tenstep.pipeline.DemoModelWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * {@code make-demo}: writes the bundled demo pipeline (tiny SD architecture, real CLIP vocabulary,
 * seeded random weights) in the diffusers layout. {@code serve} does the same on its own when
 * {@code models/} holds no pipeline.
 */
@Command(name = "make-demo", mixinStandardHelpOptions = true,
        description = "Write the demo pipeline (" + DemoModelWriter.LABEL + ").")
public class MakeDemoCommand implements Callable<Integer> {
    @Option(names = {"-o", "--output"}, paramLabel = "DIR",
            description = "folder to create (default: models/demo of the installation)")
    Path output;

    @Option(names = "--seed", defaultValue = "" + DemoModelWriter.DEFAULT_SEED,
            description = "seed of the random weights (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--force", description = "replace the folder if it exists")
    boolean force;

    public MakeDemoCommand() {
    }

    @Override
    public Integer call() throws IOException {
        if (output == null) {
            output = ModelLocator.defaultModelsDir().resolve("demo");
        }
        if (Files.exists(output)) {
            if (!force) {
                System.err.println("error: " + output + " exists; use --force to replace it");
                return 1;
            }
            try (Stream<Path> s = Files.walk(output)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> {
                    try {
                        Files.delete(p);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
            }
        }
        DemoModelWriter.create(output, seed);
        System.out.println("wrote the demo pipeline to " + output + " (" + DemoModelWriter.LABEL + ")");
        return 0;
    }
}
