package dev.tenstep.model.unet;

import dev.tenstep.model.nn.Profiler;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.model.ModelLoadException;
import dev.tenstep.model.Weights;
import dev.tenstep.model.config.Configs;
import dev.tenstep.model.config.UNetConfig;
import dev.tenstep.model.nn.Conv2d;
import dev.tenstep.model.nn.GroupNorm;
import dev.tenstep.model.nn.Ops;
import dev.tenstep.model.nn.Scope;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;
import java.util.function.UnaryOperator;
import ai.djl.ndarray.types.DataType;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.io.TensorFile;
import java.io.IOException;

/**
 * The Stable Diffusion 1.x/2.x and SDXL denoiser, diffusers {@code unet_2d_condition.UNet2DConditionModel}
 * (with {@code resnet.py}, {@code attention.py}, {@code transformer_2d.py}, {@code unet_2d_blocks.py}):
 * {@code time_proj} -> {@code time_embedding}; {@code conv_in}; down blocks (skip states kept);
 * {@code mid_block}; up blocks (consuming the skip states); {@code conv_norm_out}, SiLU, {@code conv_out}.
 *
 * <p>SDXL ({@code addition_embed_type} {@code text_time}) adds to the time embedding
 * {@code aug = add_embedding(concat(text_embeds, add_time_proj(time_ids).reshape(B, 6 x addition_time_embed_dim)))}
 * (diffusers {@code get_aug_embed}): each of the six size numbers through the same sinusoid as the timestep, at width
 * {@code addition_time_embed_dim}; every resnet then receives {@code time_embedding(t) + aug}
 * ({@link AddedConditioning}).
 *
 * <p>Every dimension comes from {@code unet/config.json}. Weights are read-only mappings of the
 * safetensors file, owned by a sub-manager of the manager given to {@link #load} and released by
 * {@link #close}. Inference only. Each forward keeps its intermediates in sub-managers of the
 * sample's manager that are closed block by block, so only the result survives the call.
 */
public final class UNet2DConditionModel implements AutoCloseable {
    private final UNetConfig config;
    /** The sub-manager owning the weights when built by {@link #load}, else null (the caller owns them). */
    private final NDManager weightsManager;

    public final Timesteps timeProj;
    public final TimestepEmbedding timeEmbedding;
    /** {@code add_time_proj}: the sinusoid of the SDXL time ids ({@code text_time}), else null. */
    public final Timesteps addTimeProj;
    /** {@code add_embedding} [temb, projection_class_embeddings_input_dim] -> [temb, temb] ({@code text_time}), else null. */
    public final TimestepEmbedding addEmbedding;
    public final Conv2d convIn;
    public final List<DownBlock> downBlocks = new ArrayList<>();
    public final UNetMidBlock2DCrossAttn midBlock;
    public final List<UpBlock> upBlocks = new ArrayList<>();
    public final GroupNorm convNormOut;
    public final Conv2d convOut;
    /** Every Linear and Conv2d by weight name ({@code down_blocks.0.resnets.0.conv1.weight}): what a LoRA changes. */
    private final java.util.Map<String, dev.tenstep.model.nn.Patchable> layers;

    /**
     * Builds the model from {@code config}, taking every weight from {@code w} (the caller calls
     * {@link Weights#finish()}).
     *
     * @throws ModelLoadException naming a missing or misshaped weight
     */
    public UNet2DConditionModel(UNetConfig config, Weights w) {
        this(config, w, null);
    }

    private UNet2DConditionModel(UNetConfig c, Weights w, NDManager weightsManager) {
        this.config = c;
        this.weightsManager = weightsManager;
        java.util.Set<String> before = java.util.Set.copyOf(w.layers().keySet());
        int[] boc = c.blockOutChannels();
        int[] heads = c.headsPerBlock();
        int levels = c.levels();
        long temb = c.timeEmbeddingDim();

        timeProj = new Timesteps(boc[0], c.flipSinToCos(), c.freqShift());
        timeEmbedding = new TimestepEmbedding(w, "time_embedding", boc[0], temb);
        if (c.hasTextTimeEmbedding()) {
            addTimeProj = new Timesteps(c.additionTimeEmbedDim(), c.flipSinToCos(), c.freqShift());
            addEmbedding = new TimestepEmbedding(w, "add_embedding", c.projectionClassEmbeddingsInputDim(), temb);
        } else {
            addTimeProj = null;
            addEmbedding = null;
        }
        convIn = new Conv2d(w, "conv_in", c.inChannels(), boc[0], 3);

        int out = boc[0];
        for (int i = 0; i < levels; i++) {
            int in = out;
            out = boc[i];
            boolean last = i == levels - 1;
            String p = "down_blocks." + i;
            String type = c.downBlockTypes().get(i);
            downBlocks.add(new DownBlock(w, p, c, type.equals("CrossAttnDownBlock2D"), in, out, heads[i],
                    c.transformerLayersPerBlock()[i], temb, !last));
        }

        midBlock = new UNetMidBlock2DCrossAttn(w, "mid_block", c, boc[levels - 1], heads[levels - 1],
                c.transformerLayersMid(), temb);

        out = boc[levels - 1];
        for (int i = 0; i < levels; i++) {
            int prev = out;
            out = boc[levels - 1 - i];
            int skip = boc[Math.max(levels - 2 - i, 0)];
            boolean last = i == levels - 1;
            String p = "up_blocks." + i;
            String type = c.upBlockTypes().get(i);
            upBlocks.add(new UpBlock(w, p, c, type.equals("CrossAttnUpBlock2D"), prev, out, skip, heads[levels - 1 - i],
                    c.transformerLayersUp(i), temb, !last));
        }

        convNormOut = new GroupNorm(w, "conv_norm_out", c.normNumGroups(), boc[0], c.normEps());
        convOut = new Conv2d(w, "conv_out", boc[0], c.outChannels(), 3);
        layers = w.layersSince(before);
    }

    /**
     * Every {@code Linear} and {@code Conv2d} of the model by its weight name (diffusers' names, e.g.
     * {@code down_blocks.0.attentions.0.proj_in.weight}): the layers a LoRA can change. Empty when the model was
     * built from a store that registers no layers ({@link Weights#shapesOnly}).
     */
    public java.util.Map<String, dev.tenstep.model.nn.Patchable> layers() {
        return layers;
    }

    /**
     * Loads {@code unetDir/config.json} and the folder's safetensors weights (strict: every weight
     * the configuration needs must be present with the right shape, and no other tensor may be).
     *
     * @param unetDir the {@code unet} folder of a diffusers pipeline
     * @param manager the weights go into a sub-manager of it, closed by {@link #close}
     * @throws ModelLoadException if the config is missing/unsupported or a weight is missing, has
     *                            the wrong shape, or is not used (the message names the tensor)
     */
    public static UNet2DConditionModel load(Path unetDir, NDManager manager) {
        return load(unetDir, manager, DataType.FLOAT32);
    }

    /**
     * As {@link #load(Path, NDManager)}, the weights created as {@code floatType} on the manager's
     * device, and the config's {@code upcast_attention} applied (fp32 scores under half precision).
     */
    public static UNet2DConditionModel load(Path unetDir, NDManager manager, DataType floatType) {
        UNetConfig config = Configs.read(unetDir.resolve("config.json"), UNetConfig.class);
        Path file = Weights.findWeightFile(unetDir);
        // the file channel closes after the load; the mapped weights stay valid until the model's manager closes
        try (SafeTensors weights = SafeTensors.open(file)) {
            return load(config, weights, manager, floatType);
        } catch (IOException e) {
            throw new ModelLoadException(e.getMessage(), e);
        }
    }

    /**
     * Builds the model from {@code config} with the weights of {@code file} (e.g. a single-file
     * checkpoint's UNet view), strictly as {@link #load(Path, NDManager)} does.
     *
     * @param manager the weights go into a sub-manager of it, closed by {@link #close}
     * @throws ModelLoadException naming a missing, misshaped or unused weight
     */
    public static UNet2DConditionModel load(UNetConfig config, TensorFile file, NDManager manager) {
        return load(config, file, manager, DataType.FLOAT32);
    }

    /**
     * As {@link #load(UNetConfig, dev.tenstep.io.TensorFile, NDManager)}, the weights created as
     * {@code floatType} on the manager's device and the config's {@code upcast_attention} applied,
     * as {@link #load(Path, NDManager, ai.djl.ndarray.types.DataType)} does for a folder.
     */
    public static UNet2DConditionModel load(UNetConfig config, TensorFile file, NDManager manager,
                                            DataType floatType) {
        NDManager wm = manager.newSubManager();
        try {
            Weights w = Weights.of(file, wm, UnaryOperator.identity(), floatType);
            UNet2DConditionModel m = new UNet2DConditionModel(config, w, wm);
            w.finish();
            return m;
        } catch (RuntimeException e) {
            wm.close();
            throw e;
        }
    }

    public UNetConfig config() {
        return config;
    }

    /**
     * Latent height/width granularity: 1. Sizes that are not multiples of {@code 2^(levels - 1)} work
     * as in diffusers ({@code forward_upsample_size}): each upsampler interpolates to its skip's size.
     */
    public int sizeMultiple() {
        return 1;
    }

    /**
     * One denoiser evaluation.
     *
     * @param sample              latents [B, in_channels, h, w], any h, w >= 1
     * @param timestep            training-scale timestep (0..999, may be fractional), broadcast to the batch
     * @param encoderHiddenStates text conditioning [B, L, cross_attention_dim]
     * @return [B, out_channels, h, w] (eps or v, per the scheduler's prediction type), attached to
     *         {@code sample}'s manager
     * @throws IllegalArgumentException if a shape does not fit the configuration (the message names it)
     * @throws java.util.concurrent.CancellationException if the calling thread is interrupted: checked
     *         before each down block, the mid block and each up block (the flag is left set)
     */
    public NDArray forward(NDArray sample, float timestep, NDArray encoderHiddenStates) {
        return forward(sample, timestep, encoderHiddenStates, null);
    }

    /**
     * As {@link #forward(NDArray, float, NDArray)}, also passing intermediates to {@code hook}, named
     * as diffusers' modules: {@code unet.time_proj} [B, boc0], {@code unet.time_embedding} [B, T],
     * {@code unet.conv_in}, {@code unet.down_blocks.N} (after its downsampler), {@code unet.mid_block},
     * {@code unet.up_blocks.N} (after its upsampler), {@code unet.conv_norm_out} (before SiLU),
     * {@code unet.conv_out}. The arrays are only valid during the callback (duplicate and attach to
     * keep one).
     *
     * @param hook receives (name, array), or null
     */
    public NDArray forward(NDArray sample, float timestep, NDArray encoderHiddenStates, BiConsumer<String, NDArray> hook) {
        return Profiler.time("unet", () -> compute(sample, timestep, null, encoderHiddenStates, null, hook, false));
    }

    /**
     * One SDXL denoiser evaluation: as {@link #forward(NDArray, float, NDArray, BiConsumer)} with the added
     * conditioning of an {@code addition_embed_type} {@code text_time} UNet; the hook also receives
     * {@code unet.add_time_proj} [6B, addition_time_embed_dim] (row 6b + j = time id j of row b),
     * {@code unet.add_embedding} [B, T] ({@code aug}), {@code unet.down_blocks.N.attentions.M} and
     * {@code unet.mid_block.attentions.0}.
     *
     * @param added text_embeds [B, text_embeds_dim] and time_ids [B, 6] (float32 or the compute dtype), or null for a
     *              UNet without added conditioning
     * @param hook  receives (name, array), or null
     * @throws IllegalArgumentException if the added conditioning is missing, present for a UNet without it, or
     *                                  misshaped
     */
    public NDArray forward(NDArray sample, float timestep, NDArray encoderHiddenStates, AddedConditioning added,
                           BiConsumer<String, NDArray> hook) {
        return Profiler.time("unet", () -> compute(sample, timestep, null, encoderHiddenStates, added, hook, true));
    }

    /**
     * One denoiser evaluation with one timestep per sample (training: each sample of the batch is
     * noised to its own timestep).
     *
     * @param sample              latents [B, in_channels, h, w]
     * @param timesteps           [B] float32 training-scale timesteps (0..999), on sample's manager
     * @param encoderHiddenStates text conditioning [B, L, cross_attention_dim]
     * @return [B, out_channels, h, w], attached to {@code sample}'s manager
     * @throws IllegalArgumentException if a shape does not fit the configuration
     */
    public NDArray forward(NDArray sample, NDArray timesteps, NDArray encoderHiddenStates) {
        if (timesteps.getShape().dimension() != 1 || timesteps.getShape().get(0) != sample.getShape().get(0)) {
            throw new IllegalArgumentException("UNet timesteps must be [" + sample.getShape().get(0) + "], got "
                    + timesteps.getShape());
        }
        return Profiler.time("unet", () -> compute(sample, 0f, timesteps, encoderHiddenStates, null, null, false));
    }

    /**
     * With {@code timesteps} ([B]) non-null, it replaces the scalar {@code timestep}; {@code transformerRecords} also
     * reports each block's transformer outputs to the hook (the added-conditioning forward's contract).
     */
    private NDArray compute(NDArray sample, float timestep, NDArray timesteps, NDArray encoderHiddenStates,
                            AddedConditioning added, BiConsumer<String, NDArray> hook, boolean transformerRecords) {
        check(sample, timestep, encoderHiddenStates);
        checkAdded(sample.getShape().get(0), added);
        BiConsumer<String, NDArray> h = hook != null ? hook : (n, a) -> { };
        boolean inner = hook != null && transformerRecords;
        NDManager caller = sample.getManager();
        try (NDManager fm = caller.newSubManager()) {
            sample.tempAttach(fm);
            encoderHiddenStates.tempAttach(fm);
            if (added != null) {
                added.textEmbeds().tempAttach(fm);
                added.timeIds().tempAttach(fm);
            }
            long b = sample.getShape().get(0);

            if (timesteps != null) {
                timesteps.tempAttach(fm);
            }
            NDArray tproj = timesteps != null ? timeProj.forward(timesteps) : timeProj.forward(fm, timestep, b);
            if (tproj.getDataType() != sample.getDataType()) {
                // fp32 sinusoids, then the compute dtype (diffusers: t_emb.to(dtype=sample.dtype))
                tproj = tproj.toType(sample.getDataType(), false);
            }
            h.accept("unet.time_proj", tproj);
            NDArray temb = timeEmbedding.forward(tproj);
            h.accept("unet.time_embedding", temb);
            if (added != null) {
                temb = temb.add(augEmbedding(added, b, sample.getDataType(), h));
            }
            NDArray tembAct = Ops.silu(temb);

            NDArray x = convIn.forward(sample);
            h.accept("unet.conv_in", x);
            List<NDArray> skips = new ArrayList<>();
            skips.add(x);
            for (int i = 0; i < downBlocks.size(); i++) {
                Scope.checkCancelled();
                String name = "unet.down_blocks." + i + ".";
                DownBlock.Output o = downBlocks.get(i).forward(x, tembAct, encoderHiddenStates,
                        inner ? (n, a) -> h.accept(name + n, a) : null);
                x = o.hidden();
                skips.addAll(o.skips());
                h.accept("unet.down_blocks." + i, x);
            }

            Scope.checkCancelled();
            x = midBlock.forward(x, tembAct, encoderHiddenStates, inner ? (n, a) -> h.accept("unet.mid_block." + n, a) : null);
            h.accept("unet.mid_block", x);

            for (int i = 0; i < upBlocks.size(); i++) {
                Scope.checkCancelled();
                UpBlock up = upBlocks.get(i);
                List<NDArray> mine = new ArrayList<>(skips.subList(skips.size() - up.skipCount(), skips.size()));
                skips.subList(skips.size() - up.skipCount(), skips.size()).clear();
                // diffusers' forward_upsample_size: when the latent is not a multiple of 2^(levels-1),
                // the upsampler must land on the size of the skip state the next block concatenates
                long[] upsampleSize = skips.isEmpty() ? null
                        : new long[] {skips.get(skips.size() - 1).getShape().get(2), skips.get(skips.size() - 1).getShape().get(3)};
                NDArray next = up.forward(x, mine, tembAct, encoderHiddenStates, upsampleSize);
                x.close();
                mine.forEach(NDArray::close);
                x = next;
                h.accept("unet.up_blocks." + i, x);
            }

            NDArray n = convNormOut.forward(x);
            h.accept("unet.conv_norm_out", n);
            NDArray out = convOut.forward(Ops.silu(n));
            h.accept("unet.conv_out", out);
            out.attach(caller);
            return out;
        }
    }

    /**
     * SDXL's {@code aug}: {@code add_embedding(concat(text_embeds, add_time_proj(time_ids.flatten()).reshape(B, -1)))},
     * the sinusoids in float32 (diffusers), the embedding in the compute dtype.
     */
    private NDArray augEmbedding(AddedConditioning added, long b, DataType dtype, BiConsumer<String, NDArray> h) {
        NDArray ids = added.timeIds().reshape(b * UNetConfig.TIME_IDS);
        NDArray proj = addTimeProj.forward(ids.toType(DataType.FLOAT32, false));
        h.accept("unet.add_time_proj", proj);
        NDArray timeEmbeds = proj.reshape(b, (long) UNetConfig.TIME_IDS * config.additionTimeEmbedDim());
        NDArray text = added.textEmbeds().toType(timeEmbeds.getDataType(), false);
        NDArray addEmbeds = text.concat(timeEmbeds, 1);
        if (addEmbeds.getDataType() != dtype) {
            addEmbeds = addEmbeds.toType(dtype, false);
        }
        NDArray aug = addEmbedding.forward(addEmbeds);
        h.accept("unet.add_embedding", aug);
        return aug;
    }

    private void checkAdded(long batch, AddedConditioning added) {
        if (!config.hasTextTimeEmbedding()) {
            if (added != null) {
                throw new IllegalArgumentException("this UNet has no added conditioning (addition_embed_type null); "
                        + "text_embeds/time_ids must not be given");
            }
            return;
        }
        if (added == null || added.textEmbeds() == null || added.timeIds() == null) {
            throw new IllegalArgumentException("this UNet (addition_embed_type 'text_time', SDXL) needs text_embeds and "
                    + "time_ids (added conditioning)");
        }
        long[] t = added.textEmbeds().getShape().getShape();
        if (t.length != 2 || t[0] != batch || t[1] != config.textEmbedsDim()) {
            throw new IllegalArgumentException("UNet text_embeds must be [" + batch + ", " + config.textEmbedsDim() + "] "
                    + "(projection_class_embeddings_input_dim - 6 x addition_time_embed_dim), got " + added.textEmbeds().getShape());
        }
        long[] i = added.timeIds().getShape().getShape();
        if (i.length != 2 || i[0] != batch || i[1] != UNetConfig.TIME_IDS) {
            throw new IllegalArgumentException("UNet time_ids must be [" + batch + ", " + UNetConfig.TIME_IDS + "], got "
                    + added.timeIds().getShape());
        }
    }

    private void check(NDArray sample, float timestep, NDArray ctx) {
        long[] s = sample.getShape().getShape();
        if (s.length != 4 || s[1] != config.inChannels()) {
            throw new IllegalArgumentException("UNet sample must be [B, " + config.inChannels() + ", h, w], got "
                    + sample.getShape());
        }
        if (s[2] < 1 || s[3] < 1) {
            throw new IllegalArgumentException("UNet latent size " + s[2] + "x" + s[3] + " is empty");
        }
        long[] e = ctx.getShape().getShape();
        if (e.length != 3 || e[0] != s[0] || e[2] != config.crossAttentionDim()) {
            throw new IllegalArgumentException("UNet encoder_hidden_states must be [" + s[0] + ", L, "
                    + config.crossAttentionDim() + "], got " + ctx.getShape());
        }
        if (!Float.isFinite(timestep)) {
            throw new IllegalArgumentException("UNet timestep must be finite, got " + timestep);
        }
    }

    /** Releases the weights when they were loaded by {@link #load} (their sub-manager); otherwise does nothing. */
    @Override
    public void close() {
        if (weightsManager != null) {
            weightsManager.close();
        }
    }
}
