package dev.tenstep.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Safetensors reader/writer: round trips, every kind of malformed file, and hand-crafted dtypes. */
class SafeTensorsTest {
    static NDManager manager;

    @TempDir
    Path tmp;

    @BeforeAll
    static void setUp() {
        manager = NDManager.newBaseManager("PyTorch");
    }

    @AfterAll
    static void tearDown() {
        manager.close();
    }

    // ---------------------------------------------------------------- helpers

    /** Writes a raw safetensors file: 8-byte LE length, header text (not padded), data. */
    static Path raw(Path file, long headerLen, String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLen).put(h).put(data);
        Files.write(file, b.array());
        return file;
    }

    static Path raw(Path file, String header, byte[] data) throws IOException {
        return raw(file, header.getBytes(StandardCharsets.UTF_8).length, header, data);
    }

    static byte[] floatsLE(float... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            b.putFloat(f);
        }
        return b.array();
    }

    /** Asserts that opening {@code file} fails with a SafeTensorsException containing every fragment. */
    static SafeTensorsException assertBad(Path file, String... fragments) {
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> {
            try (SafeTensors st = SafeTensors.open(file)) {
                st.loadAll(manager).values().forEach(NDArray::close);
            }
        });
        assertTrue(e.getMessage().startsWith(file.toString() + ": "), "message must start with the file: " + e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' should contain '" + f + "'");
        }
        return e;
    }

    static long headerLength(Path file) throws IOException {
        byte[] b = Files.readAllBytes(file);
        return ByteBuffer.wrap(b, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    Path writeSample(String name) throws IOException {
        Path f = tmp.resolve(name);
        Map<String, NDArray> m = new LinkedHashMap<>();
        m.put("alpha", manager.create(new float[] {1.5f, -2.25f, 3f, 0f, 1e-20f, -7e30f}, new Shape(2, 3)));
        m.put("beta", manager.create(new long[] {Long.MIN_VALUE, -1, 0, 1, Long.MAX_VALUE}));
        m.put("gamma", manager.create(new float[] {42f}, new Shape(1, 1, 1)));
        SafeTensors.write(f, m, Map.of("format", "pt"));
        return f;
    }

    // ---------------------------------------------------------------- round trips

    @Test
    void roundTripF32() throws IOException {
        Path f = tmp.resolve("f32.safetensors");
        float[] v = {0f, -0f, 1f, -1.5f, 3.1415927f, Float.MIN_VALUE, Float.MAX_VALUE, -1e-30f, 123456.78f, 1f / 3f, 7f, 8f};
        SafeTensors.write(f, Map.of("w", manager.create(v, new Shape(3, 2, 2))), null);
        try (SafeTensors st = SafeTensors.open(f)) {
            assertEquals(1, st.tensors().size());
            SafeTensors.TensorInfo info = st.info("w");
            assertEquals(DType.F32, info.dtype());
            assertArrayEquals(new long[] {3, 2, 2}, info.shape());
            assertEquals(48, info.byteLength());
            assertTrue(st.metadata().isEmpty());
            NDArray a = st.load(manager, "w");
            assertEquals(DataType.FLOAT32, a.getDataType());
            assertEquals(new Shape(3, 2, 2), a.getShape());
            float[] back = a.toFloatArray();
            for (int i = 0; i < v.length; i++) {
                assertEquals(Float.floatToRawIntBits(v[i]), Float.floatToRawIntBits(back[i]), "element " + i);
            }
        }
    }

    @Test
    void roundTripI64AndMetadataAndOrder() throws IOException {
        Path f = writeSample("sample.safetensors");
        assertEquals(0, headerLength(f) % 8, "header is padded to a multiple of 8");
        String header = new String(Files.readAllBytes(f), 8, (int) headerLength(f), StandardCharsets.UTF_8);
        assertTrue(header.endsWith(" ") || header.endsWith("}"));
        try (SafeTensors st = SafeTensors.open(f)) {
            assertEquals(java.util.List.of("alpha", "beta", "gamma"), java.util.List.copyOf(st.tensors().keySet()));
            assertEquals(Map.of("format", "pt"), st.metadata());
            assertEquals(DType.I64, st.info("beta").dtype());
            assertTrue(st.contains("beta"));
            assertFalse(st.contains("__metadata__"));
            NDArray b = st.load(manager, "beta");
            assertEquals(DataType.INT64, b.getDataType());
            assertArrayEquals(new long[] {Long.MIN_VALUE, -1, 0, 1, Long.MAX_VALUE}, b.toLongArray());
            assertArrayEquals(new float[] {1.5f, -2.25f, 3f, 0f, 1e-20f, -7e30f}, st.load(manager, "alpha").toFloatArray());
            assertArrayEquals(new float[] {42f}, st.load(manager, "gamma").toFloatArray());
            // offsets are contiguous in map order
            assertEquals(8 + headerLength(f), st.info("alpha").begin());
            assertEquals(st.info("alpha").end(), st.info("beta").begin());
            assertEquals(st.info("beta").end(), st.info("gamma").begin());
            assertEquals(Files.size(f), st.info("gamma").end());
        }
        Map<String, NDArray> all = SafeTensors.read(f, manager);
        assertEquals(3, all.size());
        assertEquals(new Shape(2, 3), all.get("alpha").getShape());
    }

    @Test
    void metadataWithSeveralEntriesRoundTrips() throws IOException {
        Path f = tmp.resolve("meta.safetensors");
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", "pt");
        meta.put("note", "ünïcödé \"quoted\" {braces}");
        SafeTensors.write(f, Map.of("x", manager.create(new float[] {1f})), meta);
        try (SafeTensors st = SafeTensors.open(f)) {
            assertEquals(meta, st.metadata());
            assertEquals(1, st.tensors().size());
        }
    }

    @Test
    void writeOverwritesAtomicallyAndLeavesNoTempFiles() throws IOException {
        Path f = tmp.resolve("over.safetensors");
        SafeTensors.write(f, Map.of("x", manager.create(new float[] {1f, 2f})), null);
        SafeTensors.write(f, Map.of("y", manager.create(new float[] {3f})), null);
        try (SafeTensors st = SafeTensors.open(f)) {
            assertEquals(java.util.Set.of("y"), st.tensors().keySet());
            assertArrayEquals(new float[] {3f}, st.load(manager, "y").toFloatArray());
        }
        try (var s = Files.list(tmp)) {
            assertEquals(java.util.List.of("over.safetensors"), s.map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test
    void f16LoadsAsFloat32WithTheRightValues() throws IOException {
        Path f = tmp.resolve("f16.safetensors");
        float[] v = {0f, 1f, -2f, 0.5f, 65504f, -0.099975586f, 6.1035156e-5f, 1025f};
        try (NDManager sub = manager.newSubManager()) {
            NDArray half = sub.create(v, new Shape(2, 4)).toType(DataType.FLOAT16, false);
            SafeTensors.write(f, Map.of("h", half), null);
        }
        assertEquals(8 + headerLength(f) + 16, Files.size(f), "2 bytes per element on disk");
        try (SafeTensors st = SafeTensors.open(f)) {
            assertEquals(DType.F16, st.info("h").dtype());
            assertEquals(16, st.info("h").byteLength());
            NDArray a = st.load(manager, "h");
            assertEquals(DataType.FLOAT32, a.getDataType());
            assertEquals(new Shape(2, 4), a.getShape());
            assertArrayEquals(v, a.toFloatArray());
        }
    }

    @Test
    void f16HandCraftedBits() throws IOException {
        // 0x3C00 = 1, 0xC000 = -2, 0x7BFF = 65504, 0x0001 = 2^-24 (subnormal), 0x3555 = 0.333251953125
        short[] bits = {0x3C00, (short) 0xC000, 0x7BFF, 0x0001, 0x3555};
        ByteBuffer d = ByteBuffer.allocate(10).order(ByteOrder.LITTLE_ENDIAN);
        for (short s : bits) {
            d.putShort(s);
        }
        Path f = raw(tmp.resolve("f16raw.safetensors"),
                "{\"h\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[0,10]}}", d.array());
        try (SafeTensors st = SafeTensors.open(f)) {
            NDArray a = st.load(manager, "h");
            assertEquals(DataType.FLOAT32, a.getDataType());
            assertArrayEquals(new float[] {1f, -2f, 65504f, (float) Math.pow(2, -24), 0.333251953125f}, a.toFloatArray());
        }
    }

    @Test
    void bf16IsWidenedToFloat32Exactly() throws IOException {
        short[] bits = {0x3F80, (short) 0xC000, 0x3E20, 0x0000, (short) 0x8000, 0x7F80, (short) 0xFF80, 0x4049, 0x0001, 0x7F7F};
        ByteBuffer d = ByteBuffer.allocate(bits.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (short s : bits) {
            d.putShort(s);
        }
        Path f = raw(tmp.resolve("bf16.safetensors"),
                "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"BF16\",\"shape\":[2,5],\"data_offsets\":[0,20]}}",
                d.array());
        try (SafeTensors st = SafeTensors.open(f)) {
            assertEquals(DType.BF16, st.info("b").dtype());
            NDArray a = st.load(manager, "b");
            assertEquals(DataType.FLOAT32, a.getDataType());
            assertEquals(new Shape(2, 5), a.getShape());
            float[] got = a.toFloatArray();
            for (int i = 0; i < bits.length; i++) {
                int expected = (bits[i] & 0xffff) << 16;
                assertEquals(expected, Float.floatToRawIntBits(got[i]), "element " + i);
            }
            assertEquals(1f, got[0]);
            assertEquals(-2f, got[1]);
            assertEquals(0.15625f, got[2]);
            assertEquals(Float.POSITIVE_INFINITY, got[5]);
            assertEquals(Float.NEGATIVE_INFINITY, got[6]);
            assertEquals(3.140625f, got[7]);
        }
    }

    @Test
    void otherDtypesAndEmptyAndScalarTensors() throws IOException {
        ByteBuffer d = ByteBuffer.allocate(4 + 4 + 8 + 8).order(ByteOrder.LITTLE_ENDIAN);
        d.putFloat(2.5f);            // scalar F32 [0,4)
        d.putInt(-7);                // I32 [4,8)
        d.putDouble(Math.PI);        // F64 [8,16)
        d.putLong(99);               // I64 [16,24)
        String header = "{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                + "\"i\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                + "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[8,8]},"
                + "\"e16\":{\"dtype\":\"F16\",\"shape\":[2,0],\"data_offsets\":[8,8]},"
                + "\"d\":{\"dtype\":\"F64\",\"shape\":[1,1],\"data_offsets\":[8,16]},"
                + "\"l\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[16,24]}}";
        Path f = raw(tmp.resolve("misc.safetensors"), header, d.array());
        try (SafeTensors st = SafeTensors.open(f)) {
            NDArray s = st.load(manager, "s");
            assertEquals(new Shape(), s.getShape());
            assertEquals(2.5f, s.getFloat());
            assertArrayEquals(new int[] {-7}, st.load(manager, "i").toIntArray());
            NDArray e = st.load(manager, "e");
            assertEquals(new Shape(0, 3), e.getShape());
            assertEquals(DataType.FLOAT32, e.getDataType());
            NDArray e16 = st.load(manager, "e16");
            assertEquals(new Shape(2, 0), e16.getShape());
            assertEquals(DataType.FLOAT32, e16.getDataType());
            NDArray dd = st.load(manager, "d");
            assertEquals(DataType.FLOAT64, dd.getDataType());
            assertEquals(Math.PI, dd.toDoubleArray()[0]);
            assertArrayEquals(new long[] {99}, st.load(manager, "l").toLongArray());
        }
    }

    @Test
    void loadingAnUnknownNameNamesFileAndTensor() throws IOException {
        Path f = writeSample("unknown.safetensors");
        try (SafeTensors st = SafeTensors.open(f)) {
            SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> st.load(manager, "nope"));
            assertEquals(f + ": tensor 'nope': not in file", e.getMessage());
        }
    }

    @Test
    void writingAnUnsupportedDjlTypeIsRejected() {
        Path f = tmp.resolve("bool.safetensors");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SafeTensors.write(f, Map.of("b", manager.create(new boolean[] {true})), null));
        assertTrue(e.getMessage().toLowerCase(java.util.Locale.ROOT).contains("boolean"), e.getMessage());
        assertFalse(Files.exists(f));
    }

    // ---------------------------------------------------------------- truncation and header length

    @Test
    void missingFile() {
        Path f = tmp.resolve("absent.safetensors");
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> SafeTensors.open(f));
        assertEquals(f + ": no such file", e.getMessage());
    }

    @Test
    void shorterThanEightBytes() throws IOException {
        for (int n : new int[] {0, 1, 7}) {
            Path f = tmp.resolve("short" + n + ".safetensors");
            Files.write(f, new byte[n]);
            SafeTensorsException e = assertBad(f, "truncated: " + n + " bytes", "8-byte header length");
            assertEquals(f + ": truncated: " + n + " bytes, shorter than the 8-byte header length", e.getMessage());
        }
    }

    @Test
    void truncatedInTheDataSectionNamesTheTensor() throws IOException {
        Path valid = writeSample("valid.safetensors");
        byte[] all = Files.readAllBytes(valid);
        Path f = tmp.resolve("cut-data.safetensors");
        Files.write(f, Arrays.copyOf(all, all.length - 3));   // inside 'gamma' (the last tensor)
        long dataLen = all.length - 3 - 8 - headerLength(valid);
        assertBad(f, "tensor 'gamma'", "run past the end of the data (" + dataLen + " bytes)", "truncated");

        Path g = tmp.resolve("cut-beta.safetensors");
        Files.write(g, Arrays.copyOf(all, (int) (8 + headerLength(valid) + 24 + 10)));  // inside 'beta'
        assertBad(g, "tensor 'beta'", "run past the end");
    }

    @Test
    void truncatedInsideTheHeader() throws IOException {
        Path valid = writeSample("valid2.safetensors");
        byte[] all = Files.readAllBytes(valid);
        long n = headerLength(valid);
        Path f = tmp.resolve("cut-header.safetensors");
        Files.write(f, Arrays.copyOf(all, (int) (8 + n / 2)));
        SafeTensorsException e = assertBad(f, "header length " + n, "file of " + (8 + n / 2) + " bytes", "truncated");
        assertEquals(f + ": header length " + n + " does not fit in the file of " + (8 + n / 2)
                + " bytes (truncated or not a safetensors file)", e.getMessage());
    }

    @Test
    void everyTruncationIsACleanError() throws IOException {
        Path valid = writeSample("valid3.safetensors");
        byte[] all = Files.readAllBytes(valid);
        Path f = tmp.resolve("cut.safetensors");
        for (int len = 0; len < all.length; len++) {
            Files.write(f, Arrays.copyOf(all, len));
            try (SafeTensors st = SafeTensors.open(f)) {
                fail("a file cut to " + len + " of " + all.length + " bytes opened: " + st.tensors().keySet());
            } catch (SafeTensorsException expected) {
                assertTrue(expected.getMessage().startsWith(f + ": "), expected.getMessage());
            }
        }
    }

    @Test
    void headerLengthLargerThanTheFile() throws IOException {
        String h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
        Path f = raw(tmp.resolve("longlen.safetensors"), 5000, h, floatsLE(1f));
        long size = Files.size(f);
        SafeTensorsException e = assertBad(f);
        assertEquals(f + ": header length 5000 does not fit in the file of " + size
                + " bytes (truncated or not a safetensors file)", e.getMessage());

        Path g = raw(tmp.resolve("hugelen.safetensors"), -1L, h, floatsLE(1f));
        assertBad(g, "header length 18446744073709551615", "does not fit");

        Path z = raw(tmp.resolve("zerolen.safetensors"), 0, h, floatsLE(1f));
        assertBad(z, "header length 0 does not fit");
    }

    // ---------------------------------------------------------------- header content

    @Test
    void invalidJsonHeader() throws IOException {
        Path f = raw(tmp.resolve("badjson.safetensors"), "{\"w\": {\"dtype\": \"F32\", ", new byte[4]);
        assertBad(f, "header is not valid JSON");
        Path g = raw(tmp.resolve("trailing.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", floatsLE(1f));
        assertBad(g, "header is not valid JSON");
        Path h = raw(tmp.resolve("array.safetensors"), "[1, 2, 3]", new byte[0]);
        assertBad(h, "header is not a JSON object");
        Path blank = raw(tmp.resolve("blank.safetensors"), "        ", new byte[0]);
        assertBad(blank, "header is not a JSON object");
    }

    @Test
    void paddedEmptyHeaderIsAValidEmptyFile() throws IOException {
        Path f = raw(tmp.resolve("empty.safetensors"), "{}      ", new byte[0]);
        try (SafeTensors st = SafeTensors.open(f)) {
            assertTrue(st.tensors().isEmpty());
            assertTrue(st.metadata().isEmpty());
        }
    }

    @Test
    void nullMetadataIsNoMetadata() throws IOException {
        // the format's reference reader (Rust safetensors) types __metadata__ as Option<HashMap<String, String>>
        Path f = raw(tmp.resolve("nullmeta.safetensors"),
                "{\"__metadata__\":null,\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", floatsLE(2.5f));
        try (SafeTensors st = SafeTensors.open(f)) {
            assertTrue(st.metadata().isEmpty());
            assertEquals(java.util.Set.of("w"), st.tensors().keySet());
        }
    }

    @Test
    void offsetsPastTheEnd() throws IOException {
        Path f = raw(tmp.resolve("past.safetensors"),
                "{\"ok\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        + "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", floatsLE(1f, 2f));
        SafeTensorsException e = assertBad(f);
        assertEquals(f + ": tensor 'w': data_offsets [4,12] run past the end of the data (8 bytes): file truncated?",
                e.getMessage());
    }

    @Test
    void overlappingOffsets() throws IOException {
        Path f = raw(tmp.resolve("overlap.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", floatsLE(1f, 2f, 3f));
        assertBad(f, "tensor 'b'", "overlaps tensor 'a'");

        // the same range twice
        Path g = raw(tmp.resolve("same.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                        + "\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", floatsLE(1f));
        assertBad(g, "overlaps tensor");
    }

    @Test
    void overlapHiddenBehindAShortOrEmptyTensorIsFound() throws IOException {
        // 'big' covers [0,16); 'small' [4,8) and 'empty' [8,8) sort between it and 'late' [12,16)
        Path f = raw(tmp.resolve("hidden.safetensors"),
                "{\"big\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                        + "\"empty\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
                        + "\"late\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}", floatsLE(1f, 2f, 3f, 4f));
        assertBad(f, "tensor 'late'", "overlaps tensor 'big'");
        Path g = raw(tmp.resolve("hidden2.safetensors"),
                "{\"big\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                        + "\"small\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[20,24]},"
                        + "\"mid\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", floatsLE(1f, 2f, 3f, 4f, 5f, 6f));
        assertBad(g, "tensor 'mid'", "overlaps tensor 'big'");
    }

    @Test
    void emptyTensorsDoNotOverlapAnything() throws IOException {
        Path f = raw(tmp.resolve("empties.safetensors"),
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", floatsLE(1f, 2f));
        try (SafeTensors st = SafeTensors.open(f)) {
            assertEquals(2, st.tensors().size());
        }
    }

    @Test
    void byteLengthNotMatchingDtypeTimesShape() throws IOException {
        Path f = raw(tmp.resolve("len.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", floatsLE(1f, 2f));
        SafeTensorsException e = assertBad(f);
        assertEquals(f + ": tensor 'w': byte length 8 does not match dtype F32 x shape [3] = 12 bytes", e.getMessage());
        Path g = raw(tmp.resolve("len16.safetensors"),
                "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", new byte[16]);
        assertBad(g, "tensor 'h'", "byte length 16 does not match dtype F16 x shape [2,2] = 8 bytes");
    }

    @Test
    void unknownDtype() throws IOException {
        for (String dt : new String[] {"Q4_K", "f32", "BOOL", "U8", "F8_E4M3"}) {
            Path f = raw(tmp.resolve("dt-" + dt + ".safetensors"),
                    "{\"w\":{\"dtype\":\"" + dt + "\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]);
            SafeTensorsException e = assertBad(f);
            assertEquals(f + ": tensor 'w': unsupported dtype " + dt + " (supported: F32, F16, BF16, I64, I32, F64)",
                    e.getMessage());
        }
    }

    @Test
    void negativeFractionalAndNonNumericShapes() throws IOException {
        String[] shapes = {"[-1]", "[2,-3]", "[2.5]", "[\"4\"]", "[null]", "[true]", "[[1]]", "[1e2]"};
        for (int i = 0; i < shapes.length; i++) {
            Path f = raw(tmp.resolve("shape" + i + ".safetensors"),
                    "{\"w\":{\"dtype\":\"F32\",\"shape\":" + shapes[i] + ",\"data_offsets\":[0,4]}}", new byte[400]);
            assertBad(f, "tensor 'w'", "invalid shape");
        }
        Path notArray = raw(tmp.resolve("shape-str.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":\"4\",\"data_offsets\":[0,4]}}", new byte[4]);
        assertBad(notArray, "tensor 'w'", "needs dtype, shape and data_offsets");
    }

    @Test
    void shapesWhoseSizeOverflowsAreRejected() throws IOException {
        // 2^62 F32 elements: 2^64 bytes wraps to 0 in a long, which must not pass for an empty tensor
        Path f = raw(tmp.resolve("ovf1.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}", new byte[0]);
        assertBad(f, "tensor 'w'", "too large");
        Path g = raw(tmp.resolve("ovf2.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", new byte[0]);
        assertBad(g, "tensor 'w'", "too large");
        Path h = raw(tmp.resolve("ovf3.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,0]}}", new byte[0]);
        assertBad(h, "tensor 'w'", "invalid shape");
    }

    @Test
    void invalidDataOffsets() throws IOException {
        String[] offs = {"[-4,0]", "[8,4]", "[0,4.0]", "[\"0\",4]", "[0,99999999999999999999]"};
        for (int i = 0; i < offs.length; i++) {
            Path f = raw(tmp.resolve("off" + i + ".safetensors"),
                    "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":" + offs[i] + "}}", new byte[16]);
            assertBad(f, "tensor 'w'", "invalid data_offsets");
        }
        Path three = raw(tmp.resolve("off3.safetensors"),
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", new byte[16]);
        assertBad(three, "tensor 'w'", "needs dtype, shape and data_offsets [begin, end]");
    }

    @Test
    void malformedEntries() throws IOException {
        Path f = raw(tmp.resolve("entry.safetensors"), "{\"w\": 5}", new byte[0]);
        SafeTensorsException e = assertBad(f);
        assertEquals(f + ": tensor 'w': header entry is not an object", e.getMessage());
        Path g = raw(tmp.resolve("nodtype.safetensors"), "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]);
        assertBad(g, "tensor 'w'", "header entry needs dtype, shape and data_offsets [begin, end]");
        Path h = raw(tmp.resolve("numdtype.safetensors"),
                "{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]);
        assertBad(h, "tensor 'w'", "needs dtype");
    }

    @Test
    void malformedMetadata() throws IOException {
        Path f = raw(tmp.resolve("meta1.safetensors"), "{\"__metadata__\": [1]}", new byte[0]);
        assertBad(f, "__metadata__ is not a JSON object");
        Path g = raw(tmp.resolve("meta2.safetensors"), "{\"__metadata__\": {\"format\": {\"x\": 1}}}", new byte[0]);
        assertBad(g, "__metadata__ value of 'format' is not a string");
    }

    @Test
    void corruptedHeaderBytesNeverEscapeAsAnotherException() throws IOException {
        Path valid = writeSample("valid4.safetensors");
        byte[] all = Files.readAllBytes(valid);
        int end = (int) (8 + headerLength(valid));
        Path f = tmp.resolve("corrupt.safetensors");
        byte[] replacements = {'0', '9', '-', '"', ']', '}', ',', '.', (byte) 0xff, 0};
        int opened = 0;
        for (int pos = 0; pos < end; pos++) {
            for (byte r : replacements) {
                if (all[pos] == r) {
                    continue;
                }
                byte[] c = all.clone();
                c[pos] = r;
                Files.write(f, c);
                try (SafeTensors st = SafeTensors.open(f)) {
                    st.loadAll(manager).values().forEach(NDArray::close);
                    opened++;
                } catch (SafeTensorsException expected) {
                    assertTrue(expected.getMessage().startsWith(f + ": "), expected.getMessage());
                } catch (Exception other) {
                    fail("byte " + pos + " := " + r + " escaped as " + other, other);
                }
            }
        }
        assertTrue(opened > 0, "some corruptions (inside names or metadata) are still valid files");
    }
}
