package dev.tenstep.cli;

import dev.tenstep.batch.GenerationOptions;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.pipeline.InvalidRequestException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.IOException;

/** The {@code tenstep} command: {@code generate}, and the other subcommands registered in {@link #commandLine()}. */
@Command(name = "tenstep", mixinStandardHelpOptions = true, version = "tenstep 0.1.0",
        description = "Stable Diffusion 1.x/2.x and SDXL text-to-image in Java, with the gradient-estimation sampler "
                + "(Permenter and Yuan, ICML 2024) for few-step sampling.",
        subcommands = {ServeCommand.class, GenerateCommand.class, BatchCommand.class, SparkBatchCommand.class, BenchCommand.class, FidelityCommand.class,
                AccuracyCommand.class, TrainCommand.class,
                MakeDemoCommand.class, CheckDeviceCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements java.util.concurrent.Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        DjlEnvironment.configure();
        System.exit(commandLine().execute(args));
    }

    /**
     * The configured command line: subcommands, and errors printed as one
     * line naming the problem (exit 2 for bad arguments, 1 for a model or I/O failure).
     */
    public static CommandLine commandLine() {
        DjlEnvironment.configure();
        CommandLine cl = new CommandLine(new Main());
        // bad arguments, from picocli's parser or a command's own checks: one line naming the option, no usage dump
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine cmd = ex.getCommandLine();
            String msg = String.valueOf(ex.getMessage()).strip().replace(System.lineSeparator(), "; ").replace("\n", "; ");
            cmd.getErr().println("error: " + msg + " (see '" + cmd.getCommandSpec().qualifiedName() + " --help')");
            cmd.getErr().flush();
            return cmd.getCommandSpec().exitCodeOnInvalidInput();
        });
        cl.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
            if (ex instanceof CommandLine.ParameterException pe) {
                cmd.getErr().println("error: " + pe.getMessage());
                return 2;
            }
            if (ex instanceof InvalidRequestException ire) {
                cmd.getErr().println("error: " + String.join("; ",
                        ire.fieldErrors().stream().map(GenerationOptions::optionError).toList()));
                return 2;
            }
            if (ex instanceof ModelLoadException || ex instanceof IOException || ex instanceof IllegalArgumentException
                    || ex instanceof dev.tenstep.pipeline.NonFiniteException) {
                cmd.getErr().println("error: " + ex.getMessage());
                return 1;
            }
            throw ex;
        });
        return cl;
    }

    /** No command given: the usage goes to stderr and the exit code is 2, as for any missing argument. */
    @Override
    public Integer call() {
        spec.commandLine().getErr().println("error: missing command");
        spec.commandLine().usage(spec.commandLine().getErr());
        return 2;
    }
}
