package dev.tenstep.cli;

/**
 * The main class for {@code spark-submit}: {@code spark-submit --class dev.tenstep.cli.SparkBatchMain tenstep.jar
 * --prompts ... -o ...} runs {@code tenstep spark-batch ...} with the arguments after the jar (docs/scale-out.md).
 */
public final class SparkBatchMain {
    private SparkBatchMain() {
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs {@code spark-batch} with {@code args}; returns its exit code (0 all done, 1 a failure, 2 bad arguments). */
    public static int run(String... args) {
        String[] all = new String[args.length + 1];
        all[0] = "spark-batch";
        System.arraycopy(args, 0, all, 1, args.length);
        return Main.commandLine().execute(all);
    }
}
