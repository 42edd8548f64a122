package dev.tenstep.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.io.TensorFile;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/**
 * Where a network's modules get their weights (nanoGPT {@code from_pretrained} style): each module asks for each
 * weight by its full Hugging Face name and expected shape with {@link #take}. One implementation per source:
 * <ul>
 *   <li>{@link FileWeights}: the strict store over a safetensors file or a single-file checkpoint's component view
 *       ({@link #of}, {@link #open});</li>
 *   <li>{@link RandomWeights}: seeded random weights of whatever shape is asked for ({@link #random}: benchmarks,
 *       the demo pipeline);</li>
 *   <li>{@link ShapesOnlyWeights}: records names and shapes, allocates nothing ({@link #shapesOnly}).</li>
 * </ul>
 * Model settings (e.g. diffusers' {@code upcast_attention}) are not here: they come with the model's config.
 */
public sealed interface Weights extends AutoCloseable permits FileWeights, RandomWeights, ShapesOnlyWeights {

    /**
     * Takes the tensor {@code name} with the expected shape, attached to {@link #manager()}.
     *
     * @throws ModelLoadException if it is missing or has another shape (file stores)
     */
    NDArray take(String name, long... shape);

    /**
     * Marks a tensor as known but unused (e.g. CLIP's {@code position_ids} buffer), so {@link #finish} does not
     * count it; a no-op for stores without a file.
     */
    default void ignore(String name) {
    }

    /**
     * Ends loading.
     *
     * @throws ModelLoadException listing every tensor in the file that no module took (file stores);
     *                            nothing to check for stores without a file, which make every weight asked for
     */
    default void finish() {
    }

    /**
     * Records the layer that took weight {@code name} (a {@link dev.tenstep.model.nn.Linear} or
     * {@link dev.tenstep.model.nn.Conv2d}), so that a LoRA finds the layers it changes by their weight names
     * ({@link #layers}); a no-op for stores that build nothing to run ({@link ShapesOnlyWeights}).
     */
    default void register(String name, dev.tenstep.model.nn.Patchable layer) {
    }

    /** The layers registered so far ({@link #register}), by weight name, in registration order. */
    default Map<String, dev.tenstep.model.nn.Patchable> layers() {
        return Map.of();
    }

    /**
     * The layers registered after the names in {@code before} (a network's own, when the store built others first),
     * unmodifiable, in registration order.
     */
    default Map<String, dev.tenstep.model.nn.Patchable> layersSince(java.util.Set<String> before) {
        Map<String, dev.tenstep.model.nn.Patchable> out = new java.util.LinkedHashMap<>();
        layers().forEach((k, v) -> {
            if (!before.contains(k)) {
                out.put(k, v);
            }
        });
        return java.util.Collections.unmodifiableMap(out);
    }

    /** The manager the weights belong to. */
    NDManager manager();

    /** The type floating-point weights are created as (FLOAT32, or FLOAT16/BFLOAT16 for half-precision compute). */
    DataType floatType();

    /** The tensors of the file, by name in the file (empty for stores without a file). */
    default Map<String, SafeTensors.TensorInfo> tensors() {
        return Map.of();
    }

    /** The file, or null for stores without one. */
    default Path path() {
        return null;
    }

    /** Releases the file (nothing for stores without one); arrays already taken stay valid until their manager closes. */
    @Override
    default void close() {
    }

    /** A strict store over {@code file}, fp32, names as in the file. */
    static FileWeights of(TensorFile file, NDManager manager) {
        return new FileWeights(file, manager, UnaryOperator.identity(), DataType.FLOAT32);
    }

    /** A strict store over {@code file}, fp32; {@code alias} maps a name found in the file to the name modules ask for. */
    static FileWeights of(TensorFile file, NDManager manager, UnaryOperator<String> alias) {
        return new FileWeights(file, manager, alias, DataType.FLOAT32);
    }

    /**
     * A strict store over {@code file} with floating-point weights created as {@code floatType} on the manager's
     * device (see {@link TensorFile#load(NDManager, SafeTensors.TensorInfo, DataType)}: an fp16 safetensors file
     * is not widened on the host for fp16 compute).
     *
     * @param file    an opened safetensors file, or a single-file checkpoint's view of one component
     * @param manager the long-lived manager the weights belong to
     * @param alias   maps a name found in the file to the name modules ask for (e.g. legacy VAE
     *                attention names); identity when the file already uses the current names
     */
    static FileWeights of(TensorFile file, NDManager manager, UnaryOperator<String> alias, DataType floatType) {
        return new FileWeights(file, manager, alias, floatType);
    }

    /** Opens the weight file of a diffusers component folder (see {@link #findWeightFile}), fp32. */
    static FileWeights open(Path componentDir, NDManager manager, UnaryOperator<String> alias) {
        return open(componentDir, manager, alias, DataType.FLOAT32);
    }

    /**
     * As {@link #open(Path, NDManager, UnaryOperator)}, floating-point weights created as {@code floatType}.
     *
     * @throws ModelLoadException if the folder has no weight file or it cannot be read
     */
    static FileWeights open(Path componentDir, NDManager manager, UnaryOperator<String> alias, DataType floatType) {
        Path f = findWeightFile(componentDir);
        try {
            return new FileWeights(SafeTensors.open(f), manager, alias, floatType);
        } catch (IOException e) {
            throw new ModelLoadException(e.getMessage(), e);
        }
    }

    /** Seeded random fp32 weights (see {@link RandomWeights}). */
    static RandomWeights random(NDManager manager, long seed) {
        return new RandomWeights(manager, seed, DataType.FLOAT32);
    }

    /** As {@link #random(NDManager, long)}, the same values narrowed to {@code floatType} on the manager's device. */
    static RandomWeights random(NDManager manager, long seed, DataType floatType) {
        return new RandomWeights(manager, seed, floatType);
    }

    /** A store that records the name and shape of every weight asked for, allocating none (see {@link ShapesOnlyWeights}). */
    static ShapesOnlyWeights shapesOnly(NDManager manager) {
        return new ShapesOnlyWeights(manager);
    }

    /**
     * The weight file of a component folder, in diffusers' order of preference:
     * {@code diffusion_pytorch_model.safetensors}, {@code model.safetensors}, then their
     * {@code .fp16.safetensors} variants.
     *
     * @throws ModelLoadException if none exists; the message says when only pickled
     *                            {@code .bin}/{@code .ckpt}/{@code .pt} weights are present
     */
    static Path findWeightFile(Path componentDir) {
        if (!Files.isDirectory(componentDir)) {
            throw new ModelLoadException("missing folder " + componentDir);
        }
        for (String name : List.of("diffusion_pytorch_model.safetensors", "model.safetensors",
                "diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors")) {
            Path p = componentDir.resolve(name);
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        List<String> pickled = new ArrayList<>();
        try (Stream<Path> s = Files.list(componentDir)) {
            s.map(p -> p.getFileName().toString())
                    .filter(n -> n.endsWith(".bin") || n.endsWith(".ckpt") || n.endsWith(".pt") || n.endsWith(".pth"))
                    .sorted().forEach(pickled::add);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (!pickled.isEmpty()) {
            throw new ModelLoadException(componentDir + " holds only pickled PyTorch weights " + pickled
                    + "; this application reads .safetensors only (pickle files can run arbitrary code). "
                    + "Download the .safetensors variant of the model or convert it with the safetensors library.");
        }
        throw new ModelLoadException("no weight file in " + componentDir
                + " (expected diffusion_pytorch_model.safetensors or model.safetensors)");
    }
}
