package dev.tenstep.model.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.model.Weights;
import dev.tenstep.model.config.UNetConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers {@code unet_2d_blocks.CrossAttnDownBlock2D}: {@code layers} x (resnet, transformer), then
 * an optional stride-2 {@code downsamplers.0}. Every resnet/transformer output and the downsampler
 * output are skip states.
 */
public final class CrossAttnDownBlock2D implements DownBlock {
    public final List<ResnetBlock2D> resnets = new ArrayList<>();
    public final List<Transformer2DModel> attentions = new ArrayList<>();
    /** {@code downsamplers.0}, null for the last block. */
    public final Downsample2D downsampler;

    public CrossAttnDownBlock2D(Weights w, String prefix, UNetConfig c, long in, long out, long heads,
                                long tembChannels, boolean addDownsample) {
        for (int j = 0; j < c.layersPerBlock(); j++) {
            resnets.add(new ResnetBlock2D(w, prefix + ".resnets." + j, j == 0 ? in : out, out, tembChannels,
                    c.normNumGroups(), c.normEps()));
            attentions.add(new Transformer2DModel(w, prefix + ".attentions." + j, out, heads, c.crossAttentionDim(),
                    c.normNumGroups(), c.useLinearProjection()));
        }
        this.downsampler = addDownsample ? new Downsample2D(w, prefix + ".downsamplers.0", out, c.downsamplePadding()) : null;
    }

    @Override
    public Output forward(NDArray x, NDArray tembAct, NDArray context) {
        NDManager parent = x.getManager();
        try (NDManager sub = parent.newSubManager()) {
            x.tempAttach(sub);
            List<NDArray> states = new ArrayList<>();
            NDArray h = x;
            for (int j = 0; j < resnets.size(); j++) {
                h = resnets.get(j).forward(h, tembAct);
                h = attentions.get(j).forward(h, context);
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

    @Override
    public int skipCount() {
        return resnets.size() + (downsampler != null ? 1 : 0);
    }
}
