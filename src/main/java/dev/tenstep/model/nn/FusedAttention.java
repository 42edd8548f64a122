package dev.tenstep.model.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.JniUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * libtorch's fused attention kernel, {@code torch.nn.functional.scaled_dot_product_attention}
 * (SDPA), for DJL, whose JNI does not expose it.
 *
 * <p>Why: on the CPU libtorch (2.x) runs SDPA with its flash-attention kernel
 * ({@code aten/src/ATen/native/cpu/FlashAttentionKernel.cpp}): query rows and keys are processed
 * in tiles (up to 256 query rows x 512 keys) with a running max and running sum per query row, the
 * online softmax of Rabe &amp; Staats 2021 (arXiv 2112.05682) and Dao et al. 2022 (FlashAttention,
 * Alg. 1). The [Lq, Lk] score matrix is never materialised and each tile's scores are consumed
 * while they are in cache, in one native call, threaded over batch x heads x query tiles. The same
 * tiling written with DJL ops (~13 ops and several unfused passes per tile) measured 2-3x slower
 * than DJL's query-sliced attention; see docs/performance.md.
 *
 * <p>How: DJL runs TorchScript modules, so this class writes a minimal TorchScript archive in
 * memory (a module without parameters whose {@code forward} calls the op; the archive layout of
 * {@code torch.jit.save}: {@code data.pkl}, {@code code/__torch__.py}, {@code constants.pkl},
 * {@code version}) and loads it once with {@link JniUtils#loadModule}. libtorch compiles the
 * method against its own operator registry, so this works with any libtorch >= 2.1 (the
 * {@code scale} argument), the CPU one DJL ships (2.7.1) included. If loading fails the caller
 * falls back to the sliced DJL path ({@link #available()} is false, one warning is logged).
 */
public final class FusedAttention {
    private static final Logger LOG = LoggerFactory.getLogger(FusedAttention.class);
    private static final Object LOCK = new Object();
    private static volatile PtSymbolBlock block;
    private static volatile boolean failed;

    /** TorchScript source of the module (the dialect {@code torch.jit.save} writes into {@code code/}). */
    static final String CODE = """
            class Sdpa(Module):
              __parameters__ = []
              __buffers__ = []
              training : bool
              def forward(self: __torch__.Sdpa,
                q: Tensor,
                k: Tensor,
                v: Tensor,
                scale: float) -> Tensor:
                return torch.scaled_dot_product_attention(q, k, v, None, 0., False, scale=scale)
            """;

    private FusedAttention() {
    }

    /** Whether the fused kernel could be loaded (loads it on the first call). */
    public static boolean available() {
        return module() != null;
    }

    /**
     * {@code softmax(q k^T * scale) v} per batch and head, without materialising the scores.
     *
     * @param q     [B, H, Lq, d]; any strides with the last dimension contiguous (e.g. a
     *              {@code [B, Lq, H, d]} projection transposed to {@code [B, H, Lq, d]}, no copy)
     * @param k     [B, H, Lk, d]
     * @param v     [B, H, Lk, dv]
     * @param scale usually {@code d^-0.5}
     * @return [B, H, Lq, dv], attached to q's manager
     * @throws IllegalStateException if the kernel is not {@link #available()}
     */
    public static NDArray apply(NDArray q, NDArray k, NDArray v, float scale) {
        PtSymbolBlock m = module();
        if (m == null) {
            throw new IllegalStateException("fused attention is not available in this libtorch");
        }
        IValue iq = IValue.from((PtNDArray) q);
        IValue ik = IValue.from((PtNDArray) k);
        IValue iv = IValue.from((PtNDArray) v);
        IValue is = IValue.from((double) scale);
        IValue out = null;
        try {
            out = m.forward(iq, ik, iv, is);
            return out.toTensor((PtNDManager) q.getManager());
        } finally {
            iq.close();
            ik.close();
            iv.close();
            is.close();
            if (out != null) {
                out.close();
            }
        }
    }

    private static PtSymbolBlock module() {
        PtSymbolBlock m = block;
        if (m != null || failed) {
            return m;
        }
        synchronized (LOCK) {
            if (block == null && !failed) {
                try {
                    // a process-lifetime manager: the module (no parameters) is shared by all models and threads
                    PtNDManager manager = (PtNDManager) NDManager.newBaseManager();
                    block = JniUtils.loadModule(manager, new ByteArrayInputStream(archive()), true, false);
                } catch (RuntimeException | IOException e) {
                    failed = true;
                    LOG.warn("libtorch's scaled_dot_product_attention could not be loaded ({}); "
                            + "attention falls back to query slices", e.toString());
                }
            }
            return block;
        }
    }

    /** The TorchScript archive (a zip of stored entries under one folder, as {@code torch.jit.save} writes). */
    static byte[] archive() {
        // data.pkl: pickle protocol 2 of the module object: GLOBAL __torch__.Sdpa, EMPTY_TUPLE, NEWOBJ,
        // then BUILD with the state {"training": True}
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        data.writeBytes(new byte[] {(byte) 0x80, 2});
        data.writeBytes("c__torch__\nSdpa\n".getBytes(StandardCharsets.US_ASCII));
        data.writeBytes(new byte[] {')', (byte) 0x81, '}', '(', 'X', 8, 0, 0, 0});
        data.writeBytes("training".getBytes(StandardCharsets.US_ASCII));
        data.writeBytes(new byte[] {(byte) 0x88, 'u', 'b', '.'});
        ByteArrayOutputStream zip = new ByteArrayOutputStream();
        try (ZipOutputStream z = new ZipOutputStream(zip)) {
            stored(z, "sdpa/data.pkl", data.toByteArray());
            stored(z, "sdpa/code/__torch__.py", CODE.getBytes(StandardCharsets.UTF_8));
            stored(z, "sdpa/constants.pkl", new byte[] {(byte) 0x80, 2, ')', '.'}); // the empty tuple
            stored(z, "sdpa/version", "3\n".getBytes(StandardCharsets.US_ASCII));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return zip.toByteArray();
    }

    private static void stored(ZipOutputStream z, String name, byte[] bytes) throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(bytes.length);
        CRC32 crc = new CRC32();
        crc.update(bytes);
        e.setCrc(crc.getValue());
        z.putNextEntry(e);
        z.write(bytes);
        z.closeEntry();
    }
}
