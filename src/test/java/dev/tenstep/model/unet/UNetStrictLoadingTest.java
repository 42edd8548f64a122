package dev.tenstep.model.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Strict loading: a missing, misshaped or extra tensor is an error naming it. */
class UNetStrictLoadingTest {
    @TempDir
    Path tmp;

    private Path copyWith(NDManager manager, Consumer<Map<String, NDArray>> edit) throws Exception {
        Path src = Fixtures.dir(Fixtures.SD15).resolve("unet");
        Path dst = tmp.resolve("unet");
        Files.createDirectories(dst);
        Files.copy(src.resolve("config.json"), dst.resolve("config.json"));
        Map<String, NDArray> tensors = new LinkedHashMap<>(
                SafeTensors.read(src.resolve("diffusion_pytorch_model.safetensors"), manager));
        edit.accept(tensors);
        SafeTensors.write(dst.resolve("diffusion_pytorch_model.safetensors"), tensors, Map.of("format", "pt"));
        return dst;
    }

    @Test
    void unmodifiedCopyLoads() throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            Path dir = copyWith(m, t -> { });
            try (UNet2DConditionModel u = UNet2DConditionModel.load(dir, m)) {
                assertNotNull(u.config());
            }
        }
    }

    @Test
    void missingTensorIsNamed() throws Exception {
        String name = "up_blocks.1.attentions.2.transformer_blocks.0.attn2.to_k.weight";
        try (NDManager m = NDManager.newBaseManager()) {
            Path dir = copyWith(m, t -> assertNotNull(t.remove(name)));
            ModelLoadException e = assertThrows(ModelLoadException.class, () -> UNet2DConditionModel.load(dir, m));
            assertTrue(e.getMessage().contains("missing weight '" + name + "'"), e.getMessage());
        }
    }

    @Test
    void misshapedTensorIsNamed() throws Exception {
        String name = "mid_block.attentions.0.proj_in.weight";
        try (NDManager m = NDManager.newBaseManager()) {
            // a linear-projection weight [32, 32] where the config (use_linear_projection false) wants a 1x1 conv
            Path dir = copyWith(m, t -> t.put(name, t.get(name).reshape(32, 32)));
            ModelLoadException e = assertThrows(ModelLoadException.class, () -> UNet2DConditionModel.load(dir, m));
            assertTrue(e.getMessage().contains("'" + name + "' has shape [32, 32], expected [32, 32, 1, 1]"), e.getMessage());
        }
    }

    @Test
    void extraTensorIsNamed() throws Exception {
        String name = "down_blocks.2.attentions.0.norm.weight";
        try (NDManager m = NDManager.newBaseManager()) {
            Path dir = copyWith(m, t -> t.put(name, m.ones(new ai.djl.ndarray.types.Shape(32))));
            ModelLoadException e = assertThrows(ModelLoadException.class, () -> UNet2DConditionModel.load(dir, m));
            assertTrue(e.getMessage().contains("unexpected weight") && e.getMessage().contains(name), e.getMessage());
        }
    }
}
