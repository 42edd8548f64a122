package dev.tenstep.model.vae;

import dev.tenstep.model.nn.Scope;
import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;
import dev.tenstep.model.config.VaeConfig;
import dev.tenstep.model.nn.Conv2d;
import dev.tenstep.model.nn.GroupNorm;

import java.util.function.BiConsumer;

/**
 * VAE decoder (diffusers {@code vae.py Decoder}): conv_in, {@link UNetMidBlock2D}, one
 * {@link UpDecoderBlock2D} per level (channels {@code block_out_channels} reversed), conv_norm_out,
 * SiLU, conv_out. z: [N, latent_channels, h, w] -> [N, out_channels, h * 2^(levels-1), w * 2^(levels-1)].
 */
final class Decoder {
    final Conv2d convIn;
    final UNetMidBlock2D midBlock;
    final UpDecoderBlock2D[] upBlocks;
    final GroupNorm convNormOut;
    final Conv2d convOut;

    Decoder(Weights w, String prefix, VaeConfig c, double eps) {
        int[] ch = c.blockOutChannels();
        int levels = ch.length;
        int groups = c.normNumGroups();
        long top = ch[levels - 1];
        this.convIn = new Conv2d(w, prefix + ".conv_in", c.latentChannels(), top, 3);
        this.midBlock = new UNetMidBlock2D(w, prefix + ".mid_block", top, groups, eps);
        this.upBlocks = new UpDecoderBlock2D[levels];
        long out = top;
        for (int i = 0; i < levels; i++) {
            long in = out;
            out = ch[levels - 1 - i];
            upBlocks[i] = new UpDecoderBlock2D(w, prefix + ".up_blocks." + i, in, out, c.layersPerBlock() + 1,
                    i < levels - 1, groups, eps);
        }
        this.convNormOut = new GroupNorm(w, prefix + ".conv_norm_out", groups, ch[0], eps);
        this.convOut = new Conv2d(w, prefix + ".conv_out", ch[0], c.outChannels(), 3);
    }

    NDArray forward(NDArray z, BiConsumer<String, NDArray> hook) {
        return Scope.run(z, in -> {
            NDArray h = convIn.forward(in);
            Scope.emit(hook, "vae.decoder.conv_in", h);
            Scope.checkCancelled();
            h = midBlock.forward(h);
            Scope.emit(hook, "vae.decoder.mid_block", h);
            for (int i = 0; i < upBlocks.length; i++) {
                Scope.checkCancelled();
                h = upBlocks[i].forward(h);
                Scope.emit(hook, "vae.decoder.up_blocks." + i, h);
            }
            return convOut.forward(convNormOut.forwardSilu(h));
        });
    }
}
