package dev.tenstep.model.singlefile;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.tenstep.io.DType;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.io.TensorFile;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The SDXL single files ({@code single-file/tiny-sdxl*.safetensors}, the SGM layout of
 * {@code sd_xl_base_1.0.safetensors}) read as the four components of the {@code tiny-sdxl} folder:
 * the F32 file bit for bit, the F16 file as the folder's weights rounded to fp16, with exactly the
 * folder's key sets and every checkpoint tensor either read or named as deliberately unused.
 */
class SdxlSingleFileTest {
    static final String SDXL = "tiny-sdxl";
    /** The checkpoint tensors that belong to no network (CLIP's position buffer, OpenCLIP's contrastive temperature). */
    static final List<String> UNUSED = List.of("conditioner.embedders.0.transformer.text_model.embeddings.position_ids",
            "conditioner.embedders.1.model.logit_scale");
    /** The component folders and their weight files. */
    static final Map<String, String> FOLDER_FILES = Map.of("text_encoder", "text_encoder/model.safetensors",
            "text_encoder_2", "text_encoder_2/model.safetensors", "unet", "unet/diffusion_pytorch_model.safetensors",
            "vae", "vae/diffusion_pytorch_model.safetensors");

    static Path folder() {
        Path dir = Fixtures.dir(SDXL);
        assertTrue(Files.isDirectory(dir), "missing fixture " + dir);
        return dir;
    }

    static Path singleFile(String name) {
        Path f = Fixtures.root().resolve("single-file").resolve(name);
        assertTrue(Files.isRegularFile(f), "missing fixture " + f);
        return f;
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-sdxl.safetensors", "tiny-sdxl-fp16.safetensors"})
    void everyComponentHoldsExactlyTheFolderWeights(String file) throws Exception {
        boolean fp16 = file.contains("fp16");
        try (SingleFileCheckpoint c = SingleFileCheckpoint.open(singleFile(file)); NDManager m = NDManager.newBaseManager()) {
            assertTrue(c.isSdxl());
            assertEquals(SingleFileCheckpoint.TextEncoderKind.HF_CLIP, c.textEncoderKind());
            assertEquals(UNUSED, new ArrayList<>(new TreeSet<>(c.skipped())));
            Map<String, TensorFile> views = c.components(folder(), false);
            assertEquals(SingleFileCheckpoint.SDXL_COMPONENTS, List.copyOf(views.keySet()));
            int n = 0;
            for (String component : SingleFileCheckpoint.SDXL_COMPONENTS) {
                n += same(m, folder().resolve(FOLDER_FILES.get(component)), views.get(component), fp16);
            }
            // the four folder files hold 793 tensors: the checkpoint's 779, less the 2 unused, with
            // text_encoder_2's 4 x 2 stacked in_proj tensors split into q, k, v (+16)
            assertEquals(793, n);
            assertEveryTensorIsReadOnce(c, views);
            System.out.printf("[single-file] %s: %d tensors %s the folder's; unused %s%n", file, n,
                    fp16 ? "equal to the fp16 rounding of" : "identical to", c.skipped());
        }
    }

    /**
     * A view holds exactly the folder file's names and shapes, and each tensor's values equal the
     * folder's bit for bit ({@code fp16}: the folder's rounded to fp16, then widened back).
     */
    private static int same(NDManager m, Path folderFile, TensorFile view, boolean fp16) throws Exception {
        try (SafeTensors st = SafeTensors.open(folderFile)) {
            assertEquals(new TreeSet<>(st.tensors().keySet()), new TreeSet<>(view.tensors().keySet()), folderFile.toString());
            for (String k : st.tensors().keySet()) {
                try (NDManager t = m.newSubManager()) {
                    SafeTensors.TensorInfo info = view.tensors().get(k);
                    assertEquals(fp16 ? DType.F16 : DType.F32, info.dtype(), k);
                    NDArray want = st.load(t, k);
                    if (fp16) {
                        want = want.toType(DataType.FLOAT16, false).toType(DataType.FLOAT32, false);
                    }
                    NDArray got = view.load(t, info);
                    assertArrayEquals(want.getShape().getShape(), got.getShape().getShape(), k);
                    assertArrayEquals(bits(want.toFloatArray()), bits(got.toFloatArray()), k);
                }
            }
            return st.tensors().size();
        }
    }

    private static int[] bits(float[] v) {
        int[] b = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            b[i] = Float.floatToRawIntBits(v[i]);
        }
        return b;
    }

    /**
     * Every byte range of the checkpoint is read by the views, except the deliberately unused
     * tensors: each view entry lies inside one checkpoint tensor, and the entries of a tensor cover
     * it exactly (one entry, or the q, k, v thirds of a stacked in_proj).
     */
    private static void assertEveryTensorIsReadOnce(SingleFileCheckpoint c, Map<String, TensorFile> views) throws Exception {
        try (SafeTensors raw = SafeTensors.open(c.file())) {
            TreeMap<Long, SafeTensors.TensorInfo> byBegin = new TreeMap<>();
            raw.tensors().values().forEach(i -> byBegin.put(i.begin(), i));
            Map<String, Long> covered = new TreeMap<>();
            for (TensorFile v : views.values()) {
                for (SafeTensors.TensorInfo e : v.tensors().values()) {
                    SafeTensors.TensorInfo owner = byBegin.floorEntry(e.begin()).getValue();
                    assertTrue(e.end() <= owner.end(), e.name() + " crosses the end of " + owner.name());
                    covered.merge(owner.name(), e.byteLength(), Long::sum);
                }
            }
            for (SafeTensors.TensorInfo t : raw.tensors().values()) {
                long want = UNUSED.contains(t.name()) ? 0 : t.byteLength();
                assertEquals(want, covered.getOrDefault(t.name(), 0L), t.name());
            }
        }
    }

    @Test
    void textProjectionIsTheTransposeOfTheStoredMatrix() throws Exception {
        try (SingleFileCheckpoint c = SingleFileCheckpoint.open(singleFile("tiny-sdxl.safetensors"));
             SafeTensors raw = SafeTensors.open(singleFile("tiny-sdxl.safetensors"));
             NDManager m = NDManager.newBaseManager()) {
            TensorFile te2 = c.components(folder(), false).get("text_encoder_2");
            SafeTensors.TensorInfo view = te2.tensors().get("text_projection.weight");
            // [projection_dim, hidden_size] = [20, 24] from text_encoder_2/config.json; stored [24, 20]
            assertArrayEquals(new long[] {20, 24}, view.shape());
            float[] stored = raw.load(m, "conditioner.embedders.1.model.text_projection").toFloatArray();
            float[] got = te2.load(m, view).toFloatArray();
            for (int p = 0; p < 20; p++) {
                for (int h = 0; h < 24; h++) {
                    assertEquals(stored[h * 20 + p], got[p * 24 + h], 0f, "[" + p + ", " + h + "]");
                }
            }
            // and as fp16 compute asks for it
            NDArray half = te2.load(m, view, DataType.FLOAT16);
            assertEquals(DataType.FLOAT16, half.getDataType());
            assertArrayEquals(new long[] {20, 24}, half.getShape().getShape());
        }
    }

    @Test
    void theTinyFileIsNoReleaseAndTheErrorAsksForTheSdxlConfigs() {
        try (SingleFileCheckpoint c = SingleFileCheckpoint.open(singleFile("tiny-sdxl-fp16.safetensors"))) {
            ModelLoadException e = assertThrows(ModelLoadException.class, () -> Architecture.infer(c, null));
            String msg = e.getMessage();
            assertTrue(e.needsConfig(), msg);
            assertTrue(msg.contains("Differences from SDXL base 1.0 (1024 px, epsilon)"), msg);
            assertTrue(msg.contains("OpenCLIP text encoder 2 token_embedding [49408, 24], 4 blocks, text_projection [24, 20]"), msg);
            assertTrue(msg.contains("UNet conv_in [16, 4, 3, 3], label_emb.0.0 [64, 68]"), msg);
            // the first level has no attention: the first cross-attention is input_blocks.4's
            assertTrue(msg.contains("cross-attention to_k [32, 56]"), msg);
            assertTrue(msg.contains("text_encoder/, text_encoder_2/, scheduler/, tokenizer/ and tokenizer_2/"), msg);
        }
    }

    @Test
    void withTheFolderConfigsTheTinyFileHasNoDifferences() {
        try (SingleFileCheckpoint c = SingleFileCheckpoint.open(singleFile("tiny-sdxl.safetensors"))) {
            assertEquals(List.of(), Architecture.differences(c, folder()));
        }
    }

    @Test
    void sdAndSdxlTextEncodersInOneFileAreRefused() throws Exception {
        Map<String, long[]> k = new java.util.LinkedHashMap<>(OriginalLayout.sdxlKeys(Fixtures.configs()
                .resolve("stable-diffusion-xl-base-1.0")));
        k.put("cond_stage_model.transformer.text_model.final_layer_norm.weight", new long[] {768});
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> SingleFileCheckpoint.of(OriginalLayout.file(k, x -> null)));
        assertTrue(e.getMessage().contains("holds both SD 1.x/2.x (cond_stage_model.*) and SDXL (conditioner.*) text encoders"),
                e.getMessage());
    }

    @Test
    void anSdxlFileWithoutItsSecondTextEncoderIsIncomplete() throws Exception {
        Map<String, long[]> k = new java.util.LinkedHashMap<>(OriginalLayout.sdxlKeys(Fixtures.configs()
                .resolve("stable-diffusion-xl-base-1.0")));
        k.keySet().removeIf(n -> n.startsWith("conditioner.embedders.1."));
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> SingleFileCheckpoint.of(OriginalLayout.file(k, x -> null)));
        assertTrue(e.getMessage().contains("holds no weights of the second text encoder (conditioner.embedders.1.model.*)"),
                e.getMessage());
    }

    @Test
    void anSdFileHasNoSecondTextEncoder() {
        try (SingleFileCheckpoint c = SingleFileCheckpoint.open(Fixtures.root().resolve("single-file/tiny-sd21.safetensors"))) {
            assertFalse(c.isSdxl());
            assertEquals(SingleFileCheckpoint.SD_COMPONENTS, List.copyOf(c.components(Fixtures.dir(Fixtures.SD21), false).keySet()));
            ModelLoadException e = assertThrows(ModelLoadException.class,
                    () -> c.textEncoder2(dev.tenstep.model.config.Configs.read(folder().resolve("text_encoder_2/config.json"),
                            dev.tenstep.model.config.TextEncoderConfig.class)));
            assertTrue(e.getMessage().contains("not an SDXL checkpoint"), e.getMessage());
        }
    }
}
