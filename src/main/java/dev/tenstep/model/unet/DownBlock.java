package dev.tenstep.model.unet;

import dev.tenstep.model.blocks.ResnetBlock2D;
import dev.tenstep.model.blocks.Downsample2D;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.model.Weights;
import dev.tenstep.model.config.UNetConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * A UNet down block: diffusers' {@code CrossAttnDownBlock2D} ({@code layers} x (resnet,
 * transformer)) or {@code DownBlock2D} (resnets only: {@link #attentions} is empty), then an
 * optional stride-2 {@code downsamplers.0}. Every resnet/transformer output and the downsampler
 * output are skip states. Source: diffusers {@code unet_2d_blocks.py}.
 */
public final class DownBlock {
    public final List<ResnetBlock2D> resnets = new ArrayList<>();
    /** One transformer per resnet for {@code CrossAttnDownBlock2D}; empty for {@code DownBlock2D}. */
    public final List<Transformer2DModel> attentions = new ArrayList<>();
    /** {@code downsamplers.0}, null for the last block. */
    public final Downsample2D downsampler;

    /**
     * @param crossAttention true for {@code CrossAttnDownBlock2D}
     * @param heads          attention heads (diffusers' {@code attention_head_dim} entry); unused without attention
     * @param depth          transformer blocks per attention ({@code transformer_layers_per_block} entry)
     */
    public DownBlock(Weights w, String prefix, UNetConfig c, boolean crossAttention, long in, long out, long heads, int depth,
                     long tembChannels, boolean addDownsample) {
        for (int j = 0; j < c.layersPerBlock(); j++) {
            resnets.add(new ResnetBlock2D(w, prefix + ".resnets." + j, j == 0 ? in : out, out, tembChannels,
                    c.normNumGroups(), c.normEps()));
            if (crossAttention) {
                attentions.add(new Transformer2DModel(w, prefix + ".attentions." + j, c, out, heads, depth));
            }
        }
        this.downsampler = addDownsample ? new Downsample2D(w, prefix + ".downsamplers.0", out, c.downsamplePadding()) : null;
    }

    /**
     * @param x       [B, in, H, W]
     * @param tembAct SiLU of the time embedding [B, T]
     * @param context [B, Lk, D] (ignored without attention)
     * @return the block output ([B, out, ceil(H/2), ceil(W/2)] with a downsampler, else [B, out, H, W])
     *         and the states it contributes to the skip connections, all attached to x's manager
     */
    public Output forward(NDArray x, NDArray tembAct, NDArray context) {
        return forward(x, tembAct, context, null);
    }

    /**
     * As {@link #forward(NDArray, NDArray, NDArray)}, passing each transformer's output to {@code hook} as
     * {@code attentions.j} (valid during the callback only), or no hook when null.
     */
    public Output forward(NDArray x, NDArray tembAct, NDArray context, java.util.function.BiConsumer<String, NDArray> hook) {
        NDManager parent = x.getManager();
        try (NDManager sub = parent.newSubManager()) {
            x.tempAttach(sub);
            List<NDArray> states = new ArrayList<>();
            NDArray h = x;
            for (int j = 0; j < resnets.size(); j++) {
                h = resnets.get(j).forward(h, tembAct);
                if (!attentions.isEmpty()) {
                    h = attentions.get(j).forward(h, context);
                    if (hook != null) {
                        hook.accept("attentions." + j, h);
                    }
                }
                states.add(h);
            }
            if (downsampler != null) {
                h = downsampler.forward(h);
                states.add(h);
            }
            states.forEach(s -> s.attach(parent));
            return new Output(h, states);
        }
    }

    /** Number of skip states the block contributes (resnets, plus one for the downsampler). */
    public int skipCount() {
        return resnets.size() + (downsampler != null ? 1 : 0);
    }

    /** @param hidden the block output (also the last entry of {@code skips}) */
    public record Output(NDArray hidden, List<NDArray> skips) {
    }
}
