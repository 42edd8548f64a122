package dev.tenstep.model.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.model.Weights;
import dev.tenstep.model.config.UNetConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers {@code unet_2d_blocks.CrossAttnUpBlock2D}: {@code layers + 1} x (concat the next skip
 * state on the channel axis, resnet, transformer), then an optional {@code upsamplers.0}.
 */
public final class CrossAttnUpBlock2D implements UpBlock {
    public final List<ResnetBlock2D> resnets = new ArrayList<>();
    public final List<Transformer2DModel> attentions = new ArrayList<>();
    /** {@code upsamplers.0}, null for the last block. */
    public final Upsample2D upsampler;

    /**
     * @param prev channels of the incoming hidden states
     * @param out  output channels of the block
     * @param skip channels of the skip state consumed by the last resnet (the earlier ones get {@code out})
     */
    public CrossAttnUpBlock2D(Weights w, String prefix, UNetConfig c, long prev, long out, long skip, long heads,
                              long tembChannels, boolean addUpsample) {
        int n = c.layersPerBlock() + 1;
        for (int j = 0; j < n; j++) {
            long resIn = (j == 0 ? prev : out) + (j == n - 1 ? skip : out);
            resnets.add(new ResnetBlock2D(w, prefix + ".resnets." + j, resIn, out, tembChannels, c.normNumGroups(), c.normEps()));
            attentions.add(new Transformer2DModel(w, prefix + ".attentions." + j, out, heads, c.crossAttentionDim(),
                    c.normNumGroups(), c.useLinearProjection()));
        }
        this.upsampler = addUpsample ? new Upsample2D(w, prefix + ".upsamplers.0", out) : null;
    }

    @Override
    public NDArray forward(NDArray x, List<NDArray> skips, NDArray tembAct, NDArray context, long[] upsampleSize) {
        NDManager parent = x.getManager();
        try (NDManager sub = parent.newSubManager()) {
            x.tempAttach(sub);
            NDArray h = x;
            for (int j = 0; j < resnets.size(); j++) {
                h = h.concat(skips.get(skips.size() - 1 - j), 1);
                h = resnets.get(j).forward(h, tembAct);
                h = attentions.get(j).forward(h, context);
            }
            if (upsampler != null) {
                h = upsampler.forward(h, upsampleSize);
            }
            h.attach(parent);
            return h;
        }
    }

    @Override
    public int skipCount() {
        return resnets.size();
    }
}
