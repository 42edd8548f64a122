package dev.tenstep.model.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.model.Weights;
import dev.tenstep.model.config.UNetConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers {@code unet_2d_blocks.DownBlock2D}: {@code layers} resnets, then an optional stride-2
 * {@code downsamplers.0}. Every resnet output and the downsampler output are skip states.
 */
public final class DownBlock2D implements DownBlock {
    public final List<ResnetBlock2D> resnets = new ArrayList<>();
    /** {@code downsamplers.0}, null for the last block. */
    public final Downsample2D downsampler;

    public DownBlock2D(Weights w, String prefix, UNetConfig c, long in, long out, long tembChannels,
                       boolean addDownsample) {
        for (int j = 0; j < c.layersPerBlock(); j++) {
            resnets.add(new ResnetBlock2D(w, prefix + ".resnets." + j, j == 0 ? in : out, out, tembChannels,
                    c.normNumGroups(), c.normEps()));
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
            for (ResnetBlock2D r : resnets) {
                h = r.forward(h, tembAct);
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
