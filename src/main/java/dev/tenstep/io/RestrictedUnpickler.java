package dev.tenstep.io;

import net.razorvine.pickle.IObjectConstructor;
import net.razorvine.pickle.Opcodes;
import net.razorvine.pickle.PickleException;
import net.razorvine.pickle.PickleUtils;
import net.razorvine.pickle.Unpickler;

import java.io.IOException;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Reads the pickle of a PyTorch checkpoint ({@code data.pkl}) with Pyrolite's pickle machine, but
 * resolves only the few globals a state dict needs; every other global is refused with its name,
 * before anything is built (the restriction of AUTOMATIC1111's {@code modules/safe.py}). Nothing
 * pickled is ever executed: the allowed globals are Java constructors of plain data
 * ({@link TensorRef}, maps), and the Python-only ones that real checkpoints carry outside the state
 * dict (Lightning callbacks, numpy scalars) become inert placeholders.
 *
 * <p>Storages arrive through the persistent ids {@code ('storage', torch.XStorage, key, location,
 * numel)} of {@code torch.save}'s zip format and are resolved by the given function.
 */
final class RestrictedUnpickler extends Unpickler {
    /** A tensor as {@code torch._utils._rebuild_tensor_v2} describes it; nothing is read yet. */
    record TensorRef(StorageRef storage, long storageOffset, long[] shape, long[] stride) {
    }

    /** A storage of the checkpoint: the zip entry {@code data/<key>}, {@code numel} elements of {@code type}. */
    record StorageRef(String typeName, String key, long numel) {
    }

    /** The storage classes of {@code torch} ({@code torch.FloatStorage}, ...), by name. */
    static final Set<String> STORAGE_TYPES = Set.of("FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage",
            "LongStorage", "IntStorage", "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage");

    /** module.name of every global that a checkpoint may name; anything else is refused. */
    private static final Set<String> INERT = Set.of(
            // outside the state dict of Lightning-trained checkpoints (sd-v1-4.ckpt and similar)
            "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint",
            "numpy.core.multiarray.scalar", "numpy.core.multiarray._reconstruct", "numpy.dtype", "numpy.ndarray",
            "_codecs.encode", "builtins.set", "__builtin__.set", "torch.nn.modules.container.ParameterDict");

    private final Function<StorageRef, StorageRef> storages;

    /** @param storages checks a persistent storage id (e.g. that its zip entry exists) and returns it */
    RestrictedUnpickler(Function<StorageRef, StorageRef> storages) {
        this.storages = storages;
    }

    /** Thrown for a global outside the allowed set; the message names it. */
    static final class ForbiddenGlobalException extends PickleException {
        final String global;

        ForbiddenGlobalException(String global) {
            super("the pickle names the global '" + global + "', which a state dict never needs; refused without "
                    + "running it (allowed: collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
                    + "torch._utils._rebuild_parameter, torch.*Storage and a few inert Lightning/numpy names)");
            this.global = global;
        }
    }

    @Override
    protected Object dispatch(short key) throws PickleException, IOException {
        switch (key) {
            case Opcodes.GLOBAL: {
                String module = PickleUtils.readline(input);
                String name = PickleUtils.readline(input);
                stack.add(resolve(module, name));
                return NO_RETURN_VALUE;
            }
            case Opcodes.STACK_GLOBAL: {
                Object name = stack.pop();
                Object module = stack.pop();
                stack.add(resolve(String.valueOf(module), String.valueOf(name)));
                return NO_RETURN_VALUE;
            }
            case Opcodes.INST:
                // INST names module and class in the stream and instantiates at once
                throw new ForbiddenGlobalException(PickleUtils.readline(input) + "." + PickleUtils.readline(input));
            case Opcodes.EXT1:
            case Opcodes.EXT2:
            case Opcodes.EXT4:
                throw new PickleException("the pickle uses the copyreg extension registry (EXT opcodes); refused");
            default:
                return super.dispatch(key);
        }
    }

    private static Object resolve(String module, String name) {
        String full = module + "." + name;
        switch (full) {
            case "collections.OrderedDict":
                return (IObjectConstructor) args -> new StateDictMap();
            case "torch._utils._rebuild_tensor_v2":
                return (IObjectConstructor) RestrictedUnpickler::rebuildTensor;
            case "torch._utils._rebuild_parameter":
                // (data, requires_grad, backward_hooks): a Parameter is its data for inference
                return (IObjectConstructor) args -> args[0];
            default:
                break;
        }
        if (module.equals("torch") && STORAGE_TYPES.contains(name)) {
            return new StorageType(name);
        }
        if (INERT.contains(full)) {
            return (IObjectConstructor) args -> new Inert(full);
        }
        throw new ForbiddenGlobalException(full);
    }

    /** {@code _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])}. */
    private static Object rebuildTensor(Object[] args) {
        if (args.length < 4 || !(args[0] instanceof StorageRef s)) {
            throw new PickleException("_rebuild_tensor_v2 called without a storage");
        }
        return new TensorRef(s, ((Number) args[1]).longValue(), longs(args[2]), longs(args[3]));
    }

    private static long[] longs(Object tuple) {
        if (!(tuple instanceof Object[] t)) {
            throw new PickleException("tensor size/stride is not a tuple: " + tuple);
        }
        long[] out = new long[t.length];
        for (int i = 0; i < t.length; i++) {
            out[i] = ((Number) t[i]).longValue();
        }
        return out;
    }

    @Override
    protected Object persistentLoad(Object pid) {
        if (!(pid instanceof Object[] t) || t.length < 5 || !"storage".equals(t[0]) || !(t[1] instanceof StorageType type)) {
            throw new PickleException("unexpected persistent id " + describe(pid) + " (expected torch.save's "
                    + "('storage', torch.XStorage, key, location, numel))");
        }
        return storages.apply(new StorageRef(type.name, String.valueOf(t[2]), ((Number) t[4]).longValue()));
    }

    private static String describe(Object o) {
        return o instanceof Object[] a ? List.of(a).toString() : String.valueOf(o);
    }

    /** A storage class global such as {@code torch.HalfStorage}; only used inside persistent ids. */
    record StorageType(String name) {
    }

    /** A placeholder for an allowed Python object that is not part of the weights. */
    public record Inert(String global) {
        /** Pickle BUILD on the placeholder: the state is dropped. */
        public void __setstate__(HashMap<?, ?> state) {
        }
    }

    /** {@code collections.OrderedDict}; BUILD sets attributes such as a state dict's {@code _metadata}, which are dropped. */
    public static final class StateDictMap extends LinkedHashMap<Object, Object> {
        public void __setstate__(HashMap<?, ?> state) {
        }
    }

    /** Converts the unpickled top level to a plain map, or null when it is not a dict. */
    @SuppressWarnings("unchecked")
    static Map<Object, Object> asMap(Object o) {
        return o instanceof Map<?, ?> m ? (Map<Object, Object>) m : null;
    }
}
