package dev.tenstep.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import org.apache.commons.compress.archivers.zip.ZipArchiveEntry;
import org.apache.commons.compress.archivers.zip.ZipFile;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalLong;

/**
 * Reader of PyTorch checkpoints in {@code torch.save}'s zip format (PyTorch 1.6 and later; the
 * {@code .ckpt}/{@code .pt}/{@code .pth}/{@code .bin} files of Stable Diffusion): a zip archive
 * {@code <name>/data.pkl} (the pickled object) plus one uncompressed entry {@code <name>/data/<key>}
 * per storage.
 *
 * <p>The pickle is read by {@link RestrictedUnpickler}: only a state dict's globals are allowed,
 * anything else is refused with its name and nothing pickled runs. The tensors are then mapped
 * straight from the zip entries (torch writes them stored, not deflated), so nothing is copied into
 * the heap. The state dict is the top-level {@code state_dict} entry when there is one (Lightning
 * checkpoints), else the top-level dict; its non-tensor values are skipped.
 */
public final class TorchCheckpoint implements TensorFile {
    private final Path file;
    private final FileChannel channel;
    private final Map<String, SafeTensors.TensorInfo> tensors;
    private final Long globalStep;

    private TorchCheckpoint(Path file, FileChannel channel, Map<String, SafeTensors.TensorInfo> tensors, Long globalStep) {
        this.file = file;
        this.channel = channel;
        this.tensors = tensors;
        this.globalStep = globalStep;
    }

    /**
     * Opens a checkpoint: reads its pickle (restricted) and checks that every tensor lies inside its
     * storage and every storage inside the file.
     *
     * @throws SafeTensorsException naming the file (and tensor) when it is not a zip checkpoint, is
     *                              truncated, is the legacy pre-1.6 format, names a forbidden global,
     *                              or holds a tensor of an unsupported dtype or a non-contiguous one
     */
    public static TorchCheckpoint open(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new SafeTensorsException(file, "no such file");
        }
        byte[] magic = new byte[2];
        try (InputStream in = Files.newInputStream(file)) {
            if (in.readNBytes(magic, 0, 2) < 2) {
                throw new SafeTensorsException(file, "truncated: shorter than a zip header");
            }
        }
        if (magic[0] == (byte) 0x80) {
            throw new SafeTensorsException(file, "legacy PyTorch checkpoint (saved by PyTorch before 1.6, not a zip "
                    + "archive): not supported; convert it to .safetensors");
        }
        if (magic[0] != 'P' || magic[1] != 'K') {
            throw new SafeTensorsException(file, "not a PyTorch checkpoint (no zip header)");
        }
        ZipFile zip;
        try {
            zip = ZipFile.builder().setPath(file).get();
        } catch (IOException e) {
            throw new SafeTensorsException(file, "cannot read the zip archive (truncated or corrupted?): " + e.getMessage());
        }
        FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
        try (zip) {
            long size = channel.size();
            ZipArchiveEntry pkl = null;
            Map<String, ZipArchiveEntry> data = new HashMap<>();
            for (ZipArchiveEntry e : Collections.list(zip.getEntries())) {
                String n = e.getName();
                int slash = n.indexOf('/');
                String rel = slash < 0 ? n : n.substring(slash + 1);
                if (rel.equals("data.pkl")) {
                    pkl = e;
                } else if (rel.startsWith("data/")) {
                    data.put(rel.substring(5), e);
                }
            }
            if (pkl == null) {
                throw new SafeTensorsException(file, "zip archive without data.pkl: not a torch.save checkpoint");
            }
            Map<RestrictedUnpickler.StorageRef, ZipArchiveEntry> storages = new HashMap<>();
            RestrictedUnpickler unpickler = new RestrictedUnpickler(ref -> {
                ZipArchiveEntry e = data.get(ref.key());
                if (e == null) {
                    throw new net.razorvine.pickle.PickleException("storage data/" + ref.key() + " is missing from the archive");
                }
                storages.put(ref, e);
                return ref;
            });
            Object top;
            try (InputStream in = zip.getInputStream(pkl)) {
                top = unpickler.load(in);
            } catch (RestrictedUnpickler.ForbiddenGlobalException e) {
                throw new SafeTensorsException(file, "refused: " + e.getMessage());
            } catch (IOException | RuntimeException | OutOfMemoryError e) {
                // a corrupted pickle makes the machine read garbage lengths and types; an absurd
                // length fails its one allocation (OutOfMemoryError) before anything else is held
                throw new SafeTensorsException(file, "cannot read data.pkl (corrupted?): " + e);
            }
            Map<Object, Object> root = RestrictedUnpickler.asMap(top);
            if (root == null) {
                throw new SafeTensorsException(file, "the checkpoint holds no dict of tensors");
            }
            Long step = root.get("global_step") instanceof Number n ? n.longValue() : null;
            Map<Object, Object> sd = RestrictedUnpickler.asMap(root.get("state_dict"));
            if (sd == null) {
                sd = root;
            }
            Map<String, SafeTensors.TensorInfo> tensors = new LinkedHashMap<>();
            for (Map.Entry<Object, Object> e : sd.entrySet()) {
                if (e.getValue() instanceof RestrictedUnpickler.TensorRef t) {
                    String name = String.valueOf(e.getKey());
                    tensors.put(name, info(file, name, t, storages.get(t.storage()), size));
                }
            }
            return new TorchCheckpoint(file, channel, Collections.unmodifiableMap(tensors), step);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    private static SafeTensors.TensorInfo info(Path file, String name, RestrictedUnpickler.TensorRef t,
                                               ZipArchiveEntry entry, long fileSize) throws SafeTensorsException {
        DType dtype = switch (t.storage().typeName()) {
            case "FloatStorage" -> DType.F32;
            case "HalfStorage" -> DType.F16;
            case "BFloat16Storage" -> DType.BF16;
            case "DoubleStorage" -> DType.F64;
            case "LongStorage" -> DType.I64;
            case "IntStorage" -> DType.I32;
            default -> throw new SafeTensorsException(file, name, "unsupported storage type torch." + t.storage().typeName());
        };
        if (entry.getMethod() != ZipArchiveEntry.STORED) {
            throw new SafeTensorsException(file, name, "storage data/" + t.storage().key()
                    + " is compressed in the zip (torch.save stores them uncompressed): cannot map it");
        }
        long[] shape = t.shape();
        long count = 1;
        long expect = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && t.stride()[i] != expect) {
                throw new SafeTensorsException(file, name, "non-contiguous tensor (stride " + java.util.Arrays.toString(t.stride())
                        + " for shape " + java.util.Arrays.toString(shape) + "): not supported");
            }
            expect *= shape[i];
            count = Math.multiplyExact(count, shape[i]);
        }
        long storageBytes = t.storage().numel() * dtype.size;
        long begin = t.storageOffset() * dtype.size;
        long end = begin + count * dtype.size;
        if (entry.getSize() < storageBytes || end > storageBytes || begin < 0) {
            throw new SafeTensorsException(file, name, "tensor bytes [" + begin + ", " + end + ") lie outside its storage data/"
                    + t.storage().key() + " of " + entry.getSize() + " bytes (corrupted checkpoint?)");
        }
        long abs = entry.getDataOffset();
        if (abs < 0 || abs + storageBytes > fileSize) {
            throw new SafeTensorsException(file, name, "storage data/" + t.storage().key() + " runs past the end of the file "
                    + "(truncated?)");
        }
        return new SafeTensors.TensorInfo(name, dtype, shape, abs + begin, abs + end);
    }

    @Override
    public Path file() {
        return file;
    }

    @Override
    public Map<String, SafeTensors.TensorInfo> tensors() {
        return tensors;
    }

    /** The top-level {@code global_step} of a Lightning checkpoint, if any (diffusers uses it to tell SD 2.x 768-v). */
    public OptionalLong globalStep() {
        return globalStep == null ? OptionalLong.empty() : OptionalLong.of(globalStep);
    }

    @Override
    public NDArray load(NDManager manager, SafeTensors.TensorInfo info) throws IOException {
        return SafeTensors.map(channel, manager, info);
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
