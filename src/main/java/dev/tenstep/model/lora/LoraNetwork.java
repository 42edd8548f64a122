package dev.tenstep.model.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.tenstep.io.SafeTensors;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * A LoRA file as users have them: the kohya / sd-scripts layout most civitai files use
 * ({@code lora_te_<module>} / {@code lora_unet_<module>} with {@code .lora_down.weight},
 * {@code .lora_up.weight}, {@code .alpha}; LoCon's 3x3 convolutions included; SDXL's
 * {@code lora_te1_} / {@code lora_te2_}) and the diffusers / PEFT layout
 * ({@code text_encoder.<module>.lora_A.weight} / {@code .lora_B.weight}, {@code unet.<module>...}).
 *
 * <p>Each module's weight update is AUTOMATIC1111's
 * {@code delta = (alpha / rank) * reshape(up.reshape(out, -1) @ down.reshape(rank, -1), W.shape)},
 * {@code rank = lora_down.shape[0]} (A1111 {@code extensions-builtin/Lora/network_lora.py}
 * {@code calc_updown}, {@code network.py} {@code calc_scale}); a missing alpha (always so in PEFT
 * files, whose {@code lora_B} already carries the scale) means scale 1. Rank and alpha are each
 * module's own, never the metadata's {@code ss_network_dim} (which describes the linear modules only).
 * Factors are read in float32 whatever the file stores (F16 files included).
 */
public final class LoraNetwork implements AutoCloseable {
    /** The model component a module belongs to; {@link #prefix} is its diffusers folder name. */
    public enum Component {
        TEXT_ENCODER("text_encoder"), TEXT_ENCODER_2("text_encoder_2"), UNET("unet");

        private final String prefix;

        Component(String prefix) {
            this.prefix = prefix;
        }

        /** The diffusers component folder, e.g. {@code text_encoder}. */
        public String prefix() {
            return prefix;
        }
    }

    /** The file layout. */
    public enum Layout { KOHYA, PEFT }

    /** The model family a LoRA was trained for, from its metadata; UNKNOWN when it does not say. */
    public enum Family { SD1, SD2, SDXL, UNKNOWN }

    /**
     * One LoRA module.
     *
     * @param component the component it changes
     * @param name      the module's name in the file without component prefix (kohya: underscores,
     *                  e.g. {@code down_blocks_0_resnets_0_conv1}; PEFT: the module path with dots)
     * @param keys      the file's keys of this module (for error messages)
     * @param down      {@code lora_down} / {@code lora_A}: [rank, in] or [rank, in, kh, kw], float32
     * @param up        {@code lora_up} / {@code lora_B}: [out, rank] or [out, rank, 1, 1], float32
     * @param scale     alpha / rank (1 without alpha)
     */
    public record Module(Component component, String name, List<String> keys, NDArray down, NDArray up, double scale) {
        /** The rank r ({@code down.shape[0]}). */
        public long rank() {
            return down.getShape().get(0);
        }

        /**
         * The product of the weight's dimensions after the first (in x kh x kw), once the factors are checked to make
         * a weight of that shape: up [out, r, ...] and down [r, rest, ...] hold out x r and r x rest numbers.
         *
         * @throws IllegalArgumentException naming the module when they do not
         */
        private long checkedRest(long[] weightShape) {
            long rest = 1;
            for (int i = 1; i < weightShape.length; i++) {
                rest *= weightShape[i];
            }
            long r = rank();
            if (up.size() != weightShape[0] * r || down.size() != r * rest) {
                throw new IllegalArgumentException("LoRA module " + name + ": up " + up.getShape() + " and down "
                        + down.getShape() + " do not make a weight of shape " + new Shape(weightShape));
            }
            return rest;
        }

        /**
         * The weight update at multiplier 1, {@code scale * up @ down} in the weight's shape.
         *
         * @param weightShape the base weight's shape ([out, in] or [out, in, kh, kw])
         * @throws IllegalArgumentException if the factors' sizes do not give that shape
         */
        public NDArray delta(long[] weightShape) {
            long out = weightShape[0];
            long rest = checkedRest(weightShape);
            long r = rank();
            return up.reshape(out, r).matMul(down.reshape(r, rest)).mul((float) scale).reshape(new Shape(weightShape));
        }

        /**
         * {@code multiplier * delta(weightShape)} for merging: the scalar {@code multiplier * scale} is applied to the
         * small factor {@code up} before the product, {@code (m s up) @ down}, so the weight-sized result is written
         * once instead of three times (product, scale, multiplier); the numbers differ from A1111's
         * {@code ((up @ down) * scale) * multiplier} only by float32 rounding. The result and every intermediate are
         * in {@code scratch}, not the network's manager, so a large LoRA merged layer by layer frees each layer's
         * delta when its scratch closes.
         *
         * @throws IllegalArgumentException if the factors' sizes do not give that shape
         */
        public NDArray scaledDelta(long[] weightShape, double multiplier, NDManager scratch) {
            long out = weightShape[0];
            long rest = checkedRest(weightShape);
            long r = rank();
            // views of the factors, moved to scratch: every result below is created in the first operand's manager
            NDArray u = up.reshape(out, r);
            u.attach(scratch);
            NDArray d = down.reshape(r, rest);
            d.attach(scratch);
            return u.mul((float) (multiplier * scale)).matMul(d).reshape(new Shape(weightShape));
        }
    }

    private final Path file;
    private final Layout layout;
    private final Map<String, String> metadata;
    private final List<Module> modules;
    private final List<String> unusedKeys;
    private final NDManager manager;

    private LoraNetwork(Path file, Layout layout, Map<String, String> metadata, List<Module> modules,
                        List<String> unusedKeys, NDManager manager) {
        this.file = file;
        this.layout = layout;
        this.metadata = metadata;
        this.modules = modules;
        this.unusedKeys = unusedKeys;
        this.manager = manager;
    }

    /**
     * Reads a LoRA {@code .safetensors} file; its factors live on a sub-manager of {@code parent}
     * until {@link #close()}.
     *
     * @throws IllegalArgumentException if the file is neither layout, or a module lacks its up or down factor
     * @throws IOException              if the file cannot be read (a {@link dev.tenstep.io.SafeTensorsException}
     *                                  names a corrupt header)
     */
    public static LoraNetwork read(Path file, NDManager parent) throws IOException {
        NDManager m = parent.newSubManager();
        try (SafeTensors st = SafeTensors.open(file)) {
            Map<String, Map<String, String>> byModule = new TreeMap<>();
            List<String> unused = new ArrayList<>();
            Layout layout = null;
            for (String key : st.tensors().keySet()) {
                Parsed p = parse(key);
                if (p == null) {
                    unused.add(key);
                    continue;
                }
                if (layout != null && layout != p.layout) {
                    throw new IllegalArgumentException(file.getFileName() + ": mixes the kohya and PEFT LoRA layouts ("
                            + key + ")");
                }
                layout = p.layout;
                byModule.computeIfAbsent(p.component.name() + "/" + p.module, k -> new LinkedHashMap<>()).put(p.part, key);
            }
            if (layout == null) {
                throw new IllegalArgumentException(file.getFileName() + " is not a LoRA file: no key ends in "
                        + ".lora_down.weight / .lora_up.weight (kohya) or .lora_A.weight / .lora_B.weight (PEFT); "
                        + "first keys: " + st.tensors().keySet().stream().limit(3).toList());
            }
            List<Module> modules = new ArrayList<>();
            for (Map.Entry<String, Map<String, String>> e : byModule.entrySet()) {
                Map<String, String> parts = e.getValue();
                String downKey = parts.get("down");
                String upKey = parts.get("up");
                if (downKey == null || upKey == null) {
                    throw new IllegalArgumentException(file.getFileName() + ": LoRA module " + e.getKey().substring(e.getKey().indexOf('/') + 1)
                            + " has " + parts.values() + " but lacks its " + (downKey == null ? "down (lora_down / lora_A)" : "up (lora_up / lora_B)")
                            + " factor");
                }
                NDArray down = st.load(m, downKey, DataType.FLOAT32).toType(DataType.FLOAT32, false);
                NDArray up = st.load(m, upKey, DataType.FLOAT32).toType(DataType.FLOAT32, false);
                double rank = down.getShape().get(0);
                double scale = 1;
                String alphaKey = parts.get("alpha");
                if (alphaKey != null) {
                    double alpha = st.load(m, alphaKey, DataType.FLOAT32).toType(DataType.FLOAT32, false).getFloat();
                    scale = alpha / rank;
                }
                Component c = Component.valueOf(e.getKey().substring(0, e.getKey().indexOf('/')));
                modules.add(new Module(c, e.getKey().substring(e.getKey().indexOf('/') + 1), List.copyOf(parts.values()), down, up, scale));
            }
            return new LoraNetwork(file, layout, Map.copyOf(st.metadata()), List.copyOf(modules), List.copyOf(unused), m);
        } catch (IOException | RuntimeException e) {
            m.close();
            throw e;
        }
    }

    private record Parsed(Layout layout, Component component, String module, String part) {
    }

    private static Parsed parse(String key) {
        String part;
        String stem;
        Layout layout;
        if (key.endsWith(".lora_down.weight") || key.endsWith(".lora_up.weight") || key.endsWith(".alpha")) {
            layout = Layout.KOHYA;
            part = key.endsWith(".lora_down.weight") ? "down" : key.endsWith(".lora_up.weight") ? "up" : "alpha";
            stem = key.substring(0, key.indexOf('.'));
        } else if (key.endsWith(".lora_A.weight") || key.endsWith(".lora_B.weight")) {
            layout = Layout.PEFT;
            part = key.endsWith(".lora_A.weight") ? "down" : "up";
            stem = key.substring(0, key.length() - ".lora_A.weight".length());
        } else {
            return null;
        }
        if (layout == Layout.KOHYA) {
            for (String[] p : new String[][] {{"lora_te1_", "TEXT_ENCODER"}, {"lora_te2_", "TEXT_ENCODER_2"},
                    {"lora_te_", "TEXT_ENCODER"}, {"lora_unet_", "UNET"}}) {
                if (stem.startsWith(p[0])) {
                    return new Parsed(layout, Component.valueOf(p[1]), stem.substring(p[0].length()), part);
                }
            }
            return null;
        }
        for (Component c : new Component[] {Component.TEXT_ENCODER_2, Component.TEXT_ENCODER, Component.UNET}) {
            if (stem.startsWith(c.prefix() + ".")) {
                return new Parsed(layout, c, stem.substring(c.prefix().length() + 1), part);
            }
        }
        return null;
    }

    /** The file. */
    public Path file() {
        return file;
    }

    /** A1111's name of the LoRA: the file name without {@code .safetensors}. */
    public String name() {
        String n = file.getFileName().toString();
        return n.endsWith(".safetensors") ? n.substring(0, n.length() - ".safetensors".length()) : n;
    }

    /** The layout the file uses. */
    public Layout layout() {
        return layout;
    }

    /** The {@code __metadata__} strings (kohya's {@code ss_*} training record, {@code modelspec.*}). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Every module, sorted by component and name. */
    public List<Module> modules() {
        return modules;
    }

    /** Keys that are neither a factor nor an alpha of a known component (reported, never silently dropped). */
    public List<String> unusedKeys() {
        return unusedKeys;
    }

    /**
     * The family the metadata names: kohya's {@code ss_base_model_version} ({@code sd_v1}, {@code sd_v2},
     * {@code sdxl_base_v1-0}), {@code ss_v2}, or {@code modelspec.architecture}
     * ({@code stable-diffusion-v1/lora}, {@code stable-diffusion-v2-768-v/lora},
     * {@code stable-diffusion-xl-v1-base/lora}); A1111's {@code NetworkOnDisk.detect_version} reads the same.
     * A file with {@code lora_te1_}/{@code lora_te2_} keys is SDXL whatever its metadata.
     */
    public Family family() {
        if (modules.stream().anyMatch(mo -> mo.component() == Component.TEXT_ENCODER_2)) {
            return Family.SDXL;
        }
        String base = metadata.getOrDefault("ss_base_model_version", "").toLowerCase(Locale.ROOT);
        String arch = metadata.getOrDefault("modelspec.architecture", "").toLowerCase(Locale.ROOT);
        if (base.startsWith("sdxl") || arch.startsWith("stable-diffusion-xl")) {
            return Family.SDXL;
        }
        if (base.startsWith("sd_v2") || "true".equalsIgnoreCase(metadata.get("ss_v2")) || arch.startsWith("stable-diffusion-v2")) {
            return Family.SD2;
        }
        if (base.startsWith("sd_v1") || arch.startsWith("stable-diffusion-v1")) {
            return Family.SD1;
        }
        return Family.UNKNOWN;
    }

    /**
     * A1111's LoRA hash: {@code sshs_model_hash} from the metadata, else the "addnet" hash (SHA-256 of the
     * file's bytes after the safetensors header), lower-case hex.
     *
     * @throws IOException if the file cannot be read
     */
    public String hash() throws IOException {
        String h = metadata.get("sshs_model_hash");
        if (h != null && h.matches("[0-9a-fA-F]{64}")) {
            return h.toLowerCase(Locale.ROOT);
        }
        return addnetHash(file);
    }

    /** The SHA-256 of a safetensors file's bytes after its header (kohya's "addnet" hash). */
    static String addnetHash(Path file) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JVM lacks SHA-256", e);
        }
        try (InputStream in = Files.newInputStream(file)) {
            byte[] len = in.readNBytes(8);
            long n = ByteBuffer.wrap(len).order(ByteOrder.LITTLE_ENDIAN).getLong();
            in.skipNBytes(n);
            byte[] buf = new byte[1 << 20];
            int r;
            while ((r = in.read(buf)) > 0) {
                md.update(buf, 0, r);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    @Override
    public void close() {
        manager.close();
    }
}
