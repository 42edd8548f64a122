package dev.tenstep.model.unet;

import dev.tenstep.model.blocks.ResnetBlock2D;
import dev.tenstep.model.blocks.Upsample2D;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.model.Weights;
import dev.tenstep.model.config.UNetConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * A UNet up block: diffusers' {@code CrossAttnUpBlock2D} ({@code layers + 1} x (concat the next
 * skip state on the channel axis, resnet, transformer)) or {@code UpBlock2D} (no transformers:
 * {@link #attentions} is empty), then an optional {@code upsamplers.0}. Source: diffusers
 * {@code unet_2d_blocks.py}.
 */
public final class UpBlock {
    public final List<ResnetBlock2D> resnets = new ArrayList<>();
    /** One transformer per resnet for {@code CrossAttnUpBlock2D}; empty for {@code UpBlock2D}. */
    public final List<Transformer2DModel> attentions = new ArrayList<>();
    /** {@code upsamplers.0}, null for the last block. */
    public final Upsample2D upsampler;

    /**
     * @param crossAttention true for {@code CrossAttnUpBlock2D}
     * @param prev           channels of the incoming hidden states
     * @param out            output channels of the block
     * @param skip           channels of the skip state consumed by the last resnet (the earlier ones get {@code out})
     * @param heads          attention heads; unused without attention
     * @param depth          transformer blocks per attention ({@code transformer_layers_per_block}, reversed)
     */
    public UpBlock(Weights w, String prefix, UNetConfig c, boolean crossAttention, long prev, long out, long skip,
                   long heads, int depth, long tembChannels, boolean addUpsample) {
        int n = c.layersPerBlock() + 1;
        for (int j = 0; j < n; j++) {
            long resIn = (j == 0 ? prev : out) + (j == n - 1 ? skip : out);
            resnets.add(new ResnetBlock2D(w, prefix + ".resnets." + j, resIn, out, tembChannels, c.normNumGroups(), c.normEps()));
            if (crossAttention) {
                attentions.add(new Transformer2DModel(w, prefix + ".attentions." + j, c, out, heads, depth));
            }
        }
        this.upsampler = addUpsample ? new Upsample2D(w, prefix + ".upsamplers.0", out) : null;
    }

    /**
     * @param x            [B, prev, H, W]
     * @param skips        the last {@link #skipCount()} skip states of the down path, in the order the
     *                     down path produced them (the block consumes them from the end)
     * @param tembAct      SiLU of the time embedding [B, T]
     * @param context      [B, Lk, D] (ignored without attention)
     * @param upsampleSize the [H', W'] the upsampler must produce (the next skip's size; 2H x 2W unless
     *                     the latent size is not a multiple of 2^(levels-1)), or null for 2H x 2W
     * @return [B, out, H', W'] with an upsampler, else [B, out, H, W], attached to x's manager
     */
    public NDArray forward(NDArray x, List<NDArray> skips, NDArray tembAct, NDArray context, long[] upsampleSize) {
        NDManager parent = x.getManager();
        try (NDManager sub = parent.newSubManager()) {
            x.tempAttach(sub);
            NDArray h = x;
            for (int j = 0; j < resnets.size(); j++) {
                h = h.concat(skips.get(skips.size() - 1 - j), 1);
                h = resnets.get(j).forward(h, tembAct);
                if (!attentions.isEmpty()) {
                    h = attentions.get(j).forward(h, context);
                }
            }
            if (upsampler != null) {
                h = upsampler.forward(h, upsampleSize);
            }
            h.attach(parent);
            return h;
        }
    }

    /** Number of skip states consumed (= number of resnets, layers_per_block + 1). */
    public int skipCount() {
        return resnets.size();
    }
}
