package dev.tenstep.model.vae;

import dev.tenstep.model.nn.Scope;
import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;
import dev.tenstep.model.config.VaeConfig;
import dev.tenstep.model.nn.Conv2d;
import dev.tenstep.model.nn.GroupNorm;

import java.util.function.BiConsumer;

/**
 * VAE encoder (diffusers {@code vae.py Encoder}, {@code double_z=True}): conv_in, one
 * {@link DownEncoderBlock2D} per level, {@link UNetMidBlock2D}, conv_norm_out, SiLU, conv_out.
 * x: [N, in_channels, H, W] -> [N, 2 * latent_channels, H / 2^(levels-1), W / 2^(levels-1)].
 */
final class Encoder {
    final Conv2d convIn;
    final DownEncoderBlock2D[] downBlocks;
    final UNetMidBlock2D midBlock;
    final GroupNorm convNormOut;
    final Conv2d convOut;

    Encoder(Weights w, String prefix, VaeConfig c, double eps) {
        int[] ch = c.blockOutChannels();
        int groups = c.normNumGroups();
        this.convIn = new Conv2d(w, prefix + ".conv_in", c.inChannels(), ch[0], 3);
        this.downBlocks = new DownEncoderBlock2D[ch.length];
        long out = ch[0];
        for (int i = 0; i < ch.length; i++) {
            long in = out;
            out = ch[i];
            downBlocks[i] = new DownEncoderBlock2D(w, prefix + ".down_blocks." + i, in, out, c.layersPerBlock(),
                    i < ch.length - 1, groups, eps);
        }
        long top = ch[ch.length - 1];
        this.midBlock = new UNetMidBlock2D(w, prefix + ".mid_block", top, groups, eps);
        this.convNormOut = new GroupNorm(w, prefix + ".conv_norm_out", groups, top, eps);
        this.convOut = new Conv2d(w, prefix + ".conv_out", top, 2L * c.latentChannels(), 3);
    }

    NDArray forward(NDArray x, BiConsumer<String, NDArray> hook) {
        return Scope.run(x, in -> {
            NDArray h = convIn.forward(in);
            Scope.emit(hook, "vae.encoder.conv_in", h);
            for (int i = 0; i < downBlocks.length; i++) {
                Scope.checkCancelled();
                h = downBlocks[i].forward(h);
                Scope.emit(hook, "vae.encoder.down_blocks." + i, h);
            }
            Scope.checkCancelled();
            h = midBlock.forward(h);
            Scope.emit(hook, "vae.encoder.mid_block", h);
            return convOut.forward(convNormOut.forwardSilu(h));
        });
    }
}
