package dev.tenstep.pipeline.prompt;

/** Shared test input: a 150-token prompt of single-token words (see {@link A1111ConditioningTest#LONG}). */
public final class A1111ConditioningTestWords {
    public static final String LONG = A1111ConditioningTest.LONG;

    private A1111ConditioningTestWords() {
    }
}
