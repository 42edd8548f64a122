package dev.tenstep.fidelity;

import dev.tenstep.pipeline.GenerationRequest;
import dev.tenstep.pipeline.GenerationResult;
import dev.tenstep.pipeline.TextToImage;
import dev.tenstep.sampling.SamplerKind;
import dev.tenstep.sampling.ScheduleKind;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Prompt accuracy of a model over the shapes grammar: for every prompt, seed, sampler:schedule, step
 * count N and guidance scale, generate the picture and ask {@link ShapeAnalyser} whether it shows the
 * prompt's colour and shape. Unlike {@link FidelityStudy}, which measures how close N steps get to the
 * converged solve of the same ODE, this measures whether the picture is right at all, so it can
 * compare denoisers (an exact one, a learned one) on the question a user asks.
 */
public final class AccuracyStudy {
    /** Eight prompts that cover the four shapes and six colours of the grammar, each matching pictures of ideal:shapes. */
    public static final List<String> DEFAULT_PROMPTS = List.of(
            "a large blue star on a navy background, top left",
            "a red circle", "a green square", "a yellow triangle", "a purple star", "a small orange circle",
            "a large red square, center", "a blue triangle, bottom right");

    private AccuracyStudy() {
    }

    /**
     * What to run.
     *
     * @param prompts        prompts of the shapes grammar (each must name a colour and a shape)
     * @param negativePrompt the negative prompt ("" = unconditional)
     * @param seeds          seeds of the starting noise
     * @param samplers       sampler:schedule pairs
     * @param steps          step counts N
     * @param guidanceScales classifier-free guidance scales w
     */
    public record Spec(List<String> prompts, String negativePrompt, List<Long> seeds, List<SamplerSpec> samplers,
                       List<Integer> steps, List<Double> guidanceScales) {
        /** @throws IllegalArgumentException for an empty list or a prompt the grammar cannot read */
        public Spec {
            Objects.requireNonNull(negativePrompt, "negativePrompt");
            for (List<?> l : List.of(prompts, seeds, samplers, steps, guidanceScales)) {
                if (l.isEmpty()) {
                    throw new IllegalArgumentException("an accuracy study needs at least one prompt, seed, sampler, step count and guidance scale");
                }
            }
            for (String p : prompts) {
                if (ShapeAnalyser.target(p).isEmpty()) {
                    throw new IllegalArgumentException("prompt '" + p + "' names no shape colour and shape "
                            + "(e.g. 'a red circle'): its picture cannot be checked");
                }
            }
            prompts = List.copyOf(prompts);
            seeds = List.copyOf(seeds);
            samplers = List.copyOf(samplers);
            steps = List.copyOf(steps);
            guidanceScales = List.copyOf(guidanceScales);
        }
    }

    /**
     * One cell of the table: a sampler:schedule at N steps and guidance w over every prompt and seed.
     *
     * @param colourRight pictures whose foreground colour is the prompt's
     * @param shapeRight  pictures whose shape is the prompt's
     * @param bothRight   pictures right in both (the accuracy)
     * @param total       pictures generated
     */
    public record Cell(SamplerSpec sampler, int steps, double guidanceScale, int colourRight, int shapeRight,
                       int bothRight, int total) {
        /** {@code bothRight / total}, 0..1. */
        public double accuracy() {
            return total == 0 ? 0 : bothRight / (double) total;
        }
    }

    /**
     * Runs the study on the calling thread.
     *
     * @param progress receives one line per finished cell; may be null
     * @return the cells, in the order guidance scale, sampler, N
     */
    public static List<Cell> run(TextToImage model, Spec spec, Consumer<String> progress) {
        List<Cell> cells = new ArrayList<>();
        for (double w : spec.guidanceScales()) {
            for (SamplerSpec s : spec.samplers()) {
                for (int n : spec.steps()) {
                    int colour = 0;
                    int shape = 0;
                    int both = 0;
                    int total = 0;
                    for (String prompt : spec.prompts()) {
                        ShapeAnalyser.Target target = ShapeAnalyser.target(prompt).orElseThrow();
                        for (long seed : spec.seeds()) {
                            GenerationRequest r = new GenerationRequest(prompt, spec.negativePrompt(), n, w, seed,
                                    SamplerKind.byName(s.sampler()), ScheduleKind.byName(s.schedule()), s.gamma(), null, null);
                            GenerationResult g = model.generate(r);
                            ShapeAnalyser.Reading read = ShapeAnalyser.read(g.image());
                            colour += target.colour().equals(read.colour()) ? 1 : 0;
                            shape += target.shape().equals(read.shape()) ? 1 : 0;
                            both += target.matches(read) ? 1 : 0;
                            total++;
                        }
                    }
                    Cell c = new Cell(s, n, w, colour, shape, both, total);
                    cells.add(c);
                    if (progress != null) {
                        progress.accept(String.format(Locale.ROOT, "cfg %s  %-22s N=%-3d accuracy %d/%d (colour %d, shape %d)",
                                w, s, n, both, total, colour, shape));
                    }
                }
            }
        }
        return cells;
    }

    /** A Markdown table: one row per guidance scale and N, one column per sampler, accuracy in percent. */
    public static String markdown(Spec spec, List<Cell> cells) {
        StringBuilder b = new StringBuilder("| CFG | N |");
        for (SamplerSpec s : spec.samplers()) {
            b.append(' ').append(s).append(" |");
        }
        b.append("\n|---|---|").append("---|".repeat(spec.samplers().size())).append('\n');
        for (double w : spec.guidanceScales()) {
            for (int n : spec.steps()) {
                b.append("| ").append(w).append(" | ").append(n).append(" |");
                for (SamplerSpec s : spec.samplers()) {
                    Cell c = cells.stream().filter(x -> x.sampler().equals(s) && x.steps() == n && x.guidanceScale() == w)
                            .findFirst().orElseThrow();
                    b.append(String.format(Locale.ROOT, " %.0f%% (%d/%d) |", 100 * c.accuracy(), c.bothRight(), c.total()));
                }
                b.append('\n');
            }
        }
        return b.toString();
    }
}
