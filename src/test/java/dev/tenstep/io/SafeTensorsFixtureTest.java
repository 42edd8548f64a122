package dev.tenstep.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reads the real fixture weight files (read-only: nothing here writes to the fixtures). */
class SafeTensorsFixtureTest {
    static NDManager manager;

    @BeforeAll
    static void setUp() {
        manager = NDManager.newBaseManager("PyTorch");
    }

    @AfterAll
    static void tearDown() {
        manager.close();
    }

    static Path unet(String fx) {
        return Fixtures.dir(fx).resolve("unet/diffusion_pytorch_model.safetensors");
    }

    static Path vae(String fx) {
        return Fixtures.dir(fx).resolve("vae/diffusion_pytorch_model.safetensors");
    }

    static Path textEncoder(String fx) {
        return Fixtures.dir(fx).resolve("text_encoder/model.safetensors");
    }

    static long headerLength(Path f) throws IOException {
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(b, 0);
            return b.flip().getLong();
        }
    }

    /** The tensors tile the data section exactly, with sizes matching dtype x shape. */
    static void assertTiled(SafeTensors st) throws IOException {
        long dataStart = 8 + headerLength(st.file());
        List<SafeTensors.TensorInfo> l = new ArrayList<>(st.tensors().values());
        l.sort(Comparator.comparingLong(SafeTensors.TensorInfo::begin));
        long pos = dataStart;
        for (SafeTensors.TensorInfo t : l) {
            assertEquals(pos, t.begin(), t.name());
            long n = 1;
            for (long d : t.shape()) {
                n *= d;
            }
            assertEquals(n * t.dtype().size, t.byteLength(), t.name());
            pos = t.end();
        }
        assertEquals(Files.size(st.file()), pos);
    }

    static void assertShape(SafeTensors st, String name, long... shape) throws IOException {
        assertArrayEquals(shape, st.info(name).shape(), name);
    }

    @Test
    void sd15Unet() throws IOException {
        try (SafeTensors st = SafeTensors.open(unet(Fixtures.SD15))) {
            assertEquals(494, st.tensors().size());
            assertEquals(Map.of("format", "pt"), st.metadata());
            assertTrue(st.tensors().values().stream().allMatch(t -> t.dtype() == DType.F32));
            assertTiled(st);
            assertShape(st, "conv_in.weight", 16, 4, 3, 3);
            assertShape(st, "conv_in.bias", 16);
            assertShape(st, "time_embedding.linear_1.weight", 64, 16);
            assertShape(st, "time_embedding.linear_2.weight", 64, 64);
            assertShape(st, "down_blocks.0.attentions.0.proj_in.weight", 16, 16, 1, 1);
            assertShape(st, "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight", 16, 32);
            assertShape(st, "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj.weight", 128, 16);
            assertShape(st, "down_blocks.0.attentions.0.norm.weight", 16);
            assertShape(st, "mid_block.attentions.0.transformer_blocks.0.attn1.to_q.weight", 32, 32);
            assertShape(st, "conv_out.weight", 4, 16, 3, 3);
            assertFalse(st.contains("down_blocks.2.attentions.0.proj_in.weight"), "DownBlock2D has no attention");

            NDArray w = st.load(manager, "conv_in.weight");
            assertEquals(DataType.FLOAT32, w.getDataType());
            assertEquals(new Shape(16, 4, 3, 3), w.getShape());
            assertArrayEquals(rawFloats(st, "conv_in.weight"), w.toFloatArray());
        }
    }

    @Test
    void sd21UnetUsesLinearProjections() throws IOException {
        try (SafeTensors st = SafeTensors.open(unet(Fixtures.SD21))) {
            assertEquals(494, st.tensors().size());
            assertTiled(st);
            assertShape(st, "down_blocks.0.attentions.0.proj_in.weight", 16, 16);
            assertShape(st, "up_blocks.2.attentions.2.proj_out.weight", 16, 16);
            assertShape(st, "conv_in.weight", 16, 4, 3, 3);
        }
    }

    @Test
    void vaeNamingSchemes() throws IOException {
        try (SafeTensors st = SafeTensors.open(vae(Fixtures.SD15))) {
            assertEquals(200, st.tensors().size());
            assertTiled(st);
            assertShape(st, "decoder.mid_block.attentions.0.query.weight", 32, 32);
            assertShape(st, "decoder.mid_block.attentions.0.proj_attn.weight", 32, 32);
            assertFalse(st.contains("decoder.mid_block.attentions.0.to_q.weight"));
            assertShape(st, "encoder.conv_in.weight", 16, 3, 3, 3);
            assertShape(st, "quant_conv.weight", 8, 8, 1, 1);
            assertShape(st, "post_quant_conv.weight", 4, 4, 1, 1);
        }
        try (SafeTensors st = SafeTensors.open(vae(Fixtures.SD21))) {
            assertEquals(156, st.tensors().size());
            assertTiled(st);
            assertShape(st, "decoder.mid_block.attentions.0.to_q.weight", 32, 32);
            assertShape(st, "decoder.mid_block.attentions.0.to_out.0.weight", 32, 32);
            assertFalse(st.contains("decoder.mid_block.attentions.0.query.weight"));
        }
    }

    @Test
    void textEncoderPositionIds() throws IOException {
        for (String fx : List.of(Fixtures.SD15, Fixtures.SD21)) {
            try (SafeTensors st = SafeTensors.open(textEncoder(fx))) {
                assertEquals(fx.equals(Fixtures.SD15) ? 53 : 37, st.tensors().size(), fx);
                assertTiled(st);
                SafeTensors.TensorInfo info = st.info("text_model.embeddings.position_ids");
                assertEquals(DType.I64, info.dtype());
                assertArrayEquals(new long[] {1, 77}, info.shape());
                NDArray ids = st.load(manager, "text_model.embeddings.position_ids");
                assertEquals(DataType.INT64, ids.getDataType());
                assertEquals(new Shape(1, 77), ids.getShape());
                long[] v = ids.toLongArray();
                for (int i = 0; i < 77; i++) {
                    assertEquals(i, v[i]);
                }
                assertShape(st, "text_model.embeddings.token_embedding.weight", 49408, 32);
                assertShape(st, "text_model.embeddings.position_embedding.weight", 77, 32);
                assertShape(st, "text_model.encoder.layers.0.self_attn.q_proj.weight", 32, 32);
                assertShape(st, "text_model.encoder.layers.0.mlp.fc1.weight", 128, 32);
                assertShape(st, "text_model.final_layer_norm.weight", 32);
                int layers = fx.equals(Fixtures.SD15) ? 3 : 2;
                assertTrue(st.contains("text_model.encoder.layers." + (layers - 1) + ".self_attn.q_proj.weight"));
                assertFalse(st.contains("text_model.encoder.layers." + layers + ".self_attn.q_proj.weight"));
                long f32 = st.tensors().values().stream().filter(t -> t.dtype() == DType.F32).count();
                assertEquals(st.tensors().size() - 1, f32, "everything but position_ids is F32");
            }
        }
    }

    @Test
    void referenceFilesAllOpenAndLoad() throws IOException {
        for (String fx : List.of(Fixtures.SD15, Fixtures.SD21)) {
            try (var s = Files.list(Fixtures.dir(fx).resolve("reference"))) {
                for (Path f : s.filter(p -> p.toString().endsWith(".safetensors")).sorted().toList()) {
                    try (NDManager sub = manager.newSubManager(); SafeTensors st = SafeTensors.open(f)) {
                        assertFalse(st.tensors().isEmpty(), f.toString());
                        assertTiled(st);
                        Map<String, NDArray> all = st.loadAll(sub);
                        assertEquals(st.tensors().size(), all.size());
                        all.forEach((k, a) -> assertArrayEquals(st.tensors().get(k).shape(), a.getShape().getShape(), k));
                    }
                }
            }
        }
    }

    @Test
    void pipelineTimestepsAreI64() throws IOException {
        try (SafeTensors st = SafeTensors.open(Fixtures.reference(Fixtures.SD15, "pipeline_ddim.safetensors"))) {
            NDArray t = st.load(manager, "timesteps");
            assertEquals(DataType.INT64, t.getDataType());
            assertArrayEquals(new long[] {901, 801, 701, 601, 501, 401, 301, 201, 101, 1}, t.toLongArray());
        }
    }

    /** Independent decoding of a tensor's bytes with java.nio. */
    static float[] rawFloats(SafeTensors st, String name) throws IOException {
        SafeTensors.TensorInfo info = st.info(name);
        try (FileChannel ch = FileChannel.open(st.file(), StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate((int) info.byteLength()).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(b, info.begin());
            b.flip();
            float[] out = new float[(int) (info.byteLength() / 4)];
            b.asFloatBuffer().get(out);
            return out;
        }
    }
}
