package dev.tenstep.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reader and writer of the safetensors format (8-byte little-endian header length N, N bytes of
 * UTF-8 JSON, then raw little-endian tensor data; https://github.com/huggingface/safetensors).
 *
 * <p>The whole header is validated on {@link #open}: header length within the file, valid JSON,
 * known dtypes, {@code end - begin == dtype size x prod(shape)}, offsets inside the data section and
 * not overlapping. Each tensor is then memory-mapped on its own ({@link FileChannel#map} per tensor),
 * because one mapping is limited to 2 GiB and a full SD UNet file is 3.4 GB.
 *
 * <p>Arrays created from a mapping are read-only views: never run in-place ops on them.
 */
public final class SafeTensors implements TensorFile {
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    /** Upper bound on the JSON header; the real SD files have headers of a few hundred kB. */
    private static final long MAX_HEADER_BYTES = 100L << 20;

    /** One tensor's header entry. Offsets are absolute file positions. */
    public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {
        public long byteLength() {
            return end - begin;
        }

        public Shape djlShape() {
            return new Shape(shape);
        }
    }

    private final Path file;
    private final FileChannel channel;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafeTensors(Path file, FileChannel channel, Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        this.file = file;
        this.channel = channel;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /**
     * Opens and validates a safetensors file.
     *
     * @throws SafeTensorsException if the file is truncated or its header is invalid (message names file and tensor)
     * @throws IOException if the file cannot be read
     */
    public static SafeTensors open(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new SafeTensorsException(file, "no such file");
        }
        FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
        try {
            long size = channel.size();
            if (size < 8) {
                throw new SafeTensorsException(file, "truncated: " + size + " bytes, shorter than the 8-byte header length");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, lenBuf, 0);
            long headerLen = lenBuf.flip().getLong();
            if (headerLen < 2 || headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) {
                throw new SafeTensorsException(file, "header length " + Long.toUnsignedString(headerLen)
                        + " does not fit in the file of " + size + " bytes (truncated or not a safetensors file)");
            }
            ByteBuffer headerBuf = ByteBuffer.allocate((int) headerLen);
            readFully(channel, headerBuf, 8);
            String headerText = new String(headerBuf.array(), StandardCharsets.UTF_8);
            JsonNode header;
            try {
                header = JSON.readTree(headerText);
            } catch (JsonProcessingException e) {
                throw new SafeTensorsException(file, "header is not valid JSON: " + e.getOriginalMessage());
            }
            if (header == null || !header.isObject()) {
                throw new SafeTensorsException(file, "header is not a JSON object");
            }
            long dataStart = 8 + headerLen;
            long dataLen = size - dataStart;
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            Map<String, String> metadata = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().equals("__metadata__")) {
                    if (e.getValue().isNull()) {
                        // null is no metadata: the reference reader types it Option<HashMap<String, String>>
                        continue;
                    }
                    if (!e.getValue().isObject()) {
                        throw new SafeTensorsException(file, "__metadata__ is not a JSON object of strings");
                    }
                    for (Iterator<Map.Entry<String, JsonNode>> m = e.getValue().fields(); m.hasNext(); ) {
                        Map.Entry<String, JsonNode> kv = m.next();
                        if (!kv.getValue().isTextual()) {
                            throw new SafeTensorsException(file, "__metadata__ value of '" + kv.getKey() + "' is not a string");
                        }
                        metadata.put(kv.getKey(), kv.getValue().asText());
                    }
                    continue;
                }
                tensors.put(e.getKey(), parseEntry(file, e.getKey(), e.getValue(), dataStart, dataLen));
            }
            checkOverlaps(file, tensors);
            return new SafeTensors(file, channel, Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    private static TensorInfo parseEntry(Path file, String name, JsonNode node, long dataStart, long dataLen)
            throws SafeTensorsException {
        if (!node.isObject()) {
            throw new SafeTensorsException(file, name, "header entry is not an object");
        }
        JsonNode dt = node.get("dtype");
        JsonNode sh = node.get("shape");
        JsonNode off = node.get("data_offsets");
        if (dt == null || !dt.isTextual() || sh == null || !sh.isArray() || off == null || !off.isArray() || off.size() != 2) {
            throw new SafeTensorsException(file, name, "header entry needs dtype, shape and data_offsets [begin, end]");
        }
        DType dtype;
        try {
            dtype = DType.valueOf(dt.asText());
        } catch (IllegalArgumentException e) {
            throw new SafeTensorsException(file, name, "unsupported dtype " + dt.asText() + " (supported: F32, F16, BF16, I64, I32, F64)");
        }
        long[] shape = new long[sh.size()];
        long count = 1;
        boolean overflow = false;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = sh.get(i);
            // integral JSON numbers only: 2.5 or "4" are not dimensions (canConvertToLong accepts 2.5)
            if (!d.isIntegralNumber() || !d.canConvertToLong() || d.asLong() < 0) {
                throw new SafeTensorsException(file, name, "invalid shape " + sh
                        + " (dimensions must be non-negative integers)");
            }
            shape[i] = d.asLong();
            try {
                count = Math.multiplyExact(count, shape[i]);
            } catch (ArithmeticException e) {
                overflow = true;
            }
        }
        if (!off.get(0).isIntegralNumber() || !off.get(0).canConvertToLong()
                || !off.get(1).isIntegralNumber() || !off.get(1).canConvertToLong()) {
            throw new SafeTensorsException(file, name, "invalid data_offsets " + off);
        }
        long begin = off.get(0).asLong();
        long end = off.get(1).asLong();
        if (begin < 0 || end < begin) {
            throw new SafeTensorsException(file, name, "invalid data_offsets " + off);
        }
        if (end > dataLen) {
            throw new SafeTensorsException(file, name, "data_offsets " + off + " run past the end of the data ("
                    + dataLen + " bytes): file truncated?");
        }
        long expected;
        try {
            expected = overflow ? -1 : Math.multiplyExact(count, (long) dtype.size);
        } catch (ArithmeticException e) {
            expected = -1;
        }
        if (expected < 0) {
            throw new SafeTensorsException(file, name, "shape " + sh + " is too large (element count overflows)");
        }
        if (end - begin != expected) {
            throw new SafeTensorsException(file, name, "byte length " + (end - begin) + " does not match dtype "
                    + dtype + " x shape " + sh + " = " + expected + " bytes");
        }
        return new TensorInfo(name, dtype, shape, dataStart + begin, dataStart + end);
    }

    private static void checkOverlaps(Path file, Map<String, TensorInfo> tensors) throws SafeTensorsException {
        // Empty tensors occupy no bytes and cannot overlap anything. Compare each tensor with the
        // non-empty tensor that reaches furthest so far, not just its sorted neighbour: an empty
        // tensor (or a short one) between two others must not hide an overlap.
        List<TensorInfo> sorted = new ArrayList<>();
        for (TensorInfo t : tensors.values()) {
            if (t.byteLength() > 0) {
                sorted.add(t);
            }
        }
        sorted.sort(Comparator.comparingLong(TensorInfo::begin));
        TensorInfo reach = null;
        for (TensorInfo cur : sorted) {
            if (reach != null && cur.begin() < reach.end()) {
                throw new SafeTensorsException(file, cur.name(), "data " + range(cur) + " overlaps tensor '"
                        + reach.name() + "' " + range(reach));
            }
            if (reach == null || cur.end() > reach.end()) {
                reach = cur;
            }
        }
    }

    private static String range(TensorInfo t) {
        return "[" + t.begin() + ", " + t.end() + ")";
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
            pos += n;
        }
    }

    @Override
    public Path file() {
        return file;
    }

    /** Tensor entries in header order. */
    @Override
    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    /** The {@code __metadata__} entry (may be empty). */
    public Map<String, String> metadata() {
        return metadata;
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    public TensorInfo info(String name) throws SafeTensorsException {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw new SafeTensorsException(file, name, "not in file");
        }
        return info;
    }

    /**
     * Loads one tensor into {@code manager}. F32, I64, I32 and F64 are zero-copy views of a
     * read-only mapping; F16 is converted to F32 by the engine (never compute in fp16 on CPU);
     * BF16 is widened to F32 in Java.
     *
     * @return an array of {@link DType#loadedAs} type; F16 becomes FLOAT32
     */
    public NDArray load(NDManager manager, String name) throws IOException {
        return load(manager, info(name));
    }

    /**
     * Loads one tensor with floating-point tensors as {@code floatType} (see
     * {@link TensorFile#load(NDManager, TensorInfo, DataType)}): for FLOAT16 an F16 tensor goes to
     * the manager as it is stored (on a GPU manager the engine copies the half-size bytes to the
     * device); for BFLOAT16 a BF16 tensor goes as it is stored and an F16 one as F16, converted on the
     * manager's device (F16 to bf16 rounds to bf16's 8 significant bits, as torch's {@code .to} does);
     * other float tensors are converted on the manager's device.
     */
    public NDArray load(NDManager manager, String name, DataType floatType) throws IOException {
        return load(manager, info(name), floatType);
    }

    @Override
    public NDArray load(NDManager manager, TensorInfo info, DataType floatType) throws IOException {
        if (info.byteLength() > 0 && (floatType == DataType.FLOAT16 || floatType == DataType.BFLOAT16)
                && (info.dtype() == DType.F16 || (info.dtype() == DType.BF16 && floatType == DataType.BFLOAT16))) {
            ByteBuffer buf = channel.map(FileChannel.MapMode.READ_ONLY, info.begin(), info.byteLength())
                    .order(ByteOrder.LITTLE_ENDIAN);
            DataType stored = info.dtype() == DType.F16 ? DataType.FLOAT16 : DataType.BFLOAT16;
            if (stored == floatType) {
                return manager.create(buf, info.djlShape(), stored);
            }
            try (NDManager tmp = manager.newSubManager()) {
                NDArray half = tmp.create(buf, info.djlShape(), stored).toType(floatType, false);
                half.attach(manager);
                return half;
            }
        }
        return TensorFile.super.load(manager, info, floatType);
    }

    /** Loads {@code info} (an entry of this file, or a row range / reshape of one) as {@link #load(NDManager, String)} does. */
    @Override
    public NDArray load(NDManager manager, TensorInfo info) throws IOException {
        return map(channel, manager, info);
    }

    /**
     * Maps the bytes {@code [info.begin, info.end)} of {@code channel} as a tensor of
     * {@code info.shape} (row-major, little-endian). F32, I64, I32 and F64 are zero-copy read-only
     * views; F16 is widened to F32 by the engine; BF16 is widened in Java.
     */
    static NDArray map(FileChannel channel, NDManager manager, TensorInfo info) throws IOException {
        Shape shape = info.djlShape();
        if (info.byteLength() == 0) {
            return manager.zeros(shape, info.dtype().loadedAs);
        }
        ByteBuffer buf = channel.map(FileChannel.MapMode.READ_ONLY, info.begin(), info.byteLength())
                .order(ByteOrder.LITTLE_ENDIAN);
        switch (info.dtype()) {
            case BF16: {
                ShortBuffer src = buf.asShortBuffer();
                ByteBuffer out = ByteBuffer.allocateDirect(src.remaining() * 4).order(ByteOrder.nativeOrder());
                while (src.hasRemaining()) {
                    out.putInt((src.get() & 0xffff) << 16);
                }
                out.flip();
                return manager.create(out, shape, DataType.FLOAT32);
            }
            case F16: {
                try (NDManager tmp = manager.newSubManager()) {
                    NDArray half = tmp.create(buf, shape, DataType.FLOAT16);
                    NDArray f32 = half.toType(DataType.FLOAT32, true);
                    f32.attach(manager);
                    return f32;
                }
            }
            default:
                return manager.create(buf, shape, info.dtype().loadedAs);
        }
    }

    /** Loads every tensor (small files: fixtures, latents). */
    public Map<String, NDArray> loadAll(NDManager manager) throws IOException {
        Map<String, NDArray> out = new LinkedHashMap<>();
        for (String name : tensors.keySet()) {
            out.put(name, load(manager, name));
        }
        return out;
    }

    /** Convenience: opens {@code file}, loads every tensor into {@code manager}, closes the file. */
    public static Map<String, NDArray> read(Path file, NDManager manager) throws IOException {
        try (SafeTensors st = open(file)) {
            return st.loadAll(manager);
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }

    /**
     * Writes tensors atomically (temp file in the same folder, then rename), in map order, metadata sorted by key,
     * header padded with spaces to a multiple of 8 bytes as the reference writer does.
     */
    public static void write(Path file, Map<String, NDArray> arrays, Map<String, String> metadata) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            // sorted: callers pass Map.of, whose order changes from one JVM to the next, and the file's bytes
            // (its SHA-256, the A1111 model hash) must not
            new java.util.TreeMap<>(metadata).forEach(meta::put);
        }
        List<byte[]> blobs = new ArrayList<>();
        long offset = 0;
        for (Map.Entry<String, NDArray> e : arrays.entrySet()) {
            NDArray a = e.getValue();
            DType dtype = DType.of(a.getDataType());
            byte[] bytes = toLittleEndian(a);
            ObjectNode entry = header.putObject(e.getKey());
            entry.put("dtype", dtype.name());
            var shape = entry.putArray("shape");
            for (long d : a.getShape().getShape()) {
                shape.add(d);
            }
            var offs = entry.putArray("data_offsets");
            offs.add(offset);
            offs.add(offset + bytes.length);
            offset += bytes.length;
            blobs.add(bytes);
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;
        byte[] headerBytes = new byte[padded];
        System.arraycopy(json, 0, headerBytes, 0, json.length);
        for (int i = json.length; i < padded; i++) {
            headerBytes[i] = ' ';
        }
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
        out.write(len.array());
        out.write(headerBytes);
        for (byte[] b : blobs) {
            out.write(b);
        }
        AtomicFiles.write(file, out.toByteArray());
    }

    private static byte[] toLittleEndian(NDArray a) {
        ByteBuffer src = a.toByteBuffer();
        if (src.order() == ByteOrder.LITTLE_ENDIAN) {
            byte[] out = new byte[src.remaining()];
            src.get(out);
            return out;
        }
        int size = DType.of(a.getDataType()).size;
        byte[] out = new byte[src.remaining()];
        for (int i = 0; i < out.length; i += size) {
            for (int j = 0; j < size; j++) {
                out[i + j] = src.get(i + size - 1 - j);
            }
        }
        return out;
    }
}
