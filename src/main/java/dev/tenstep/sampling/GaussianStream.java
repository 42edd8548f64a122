package dev.tenstep.sampling;

/**
 * A stateful source of N(0, 1) float32 values: successive calls continue one stream, as successive
 * {@code torch.randn} calls on one generator do. Implementations: {@link TorchCpuRandom}, {@link PhiloxRandom}.
 */
public interface GaussianStream {
    /** The seed the stream was created from. */
    long seed();

    /** The next {@code n} values (one draw of n elements). */
    float[] randn(int n);
}
