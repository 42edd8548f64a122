package dev.tenstep.model.vae;

import dev.tenstep.model.blocks.ResnetBlock2D;
import dev.tenstep.model.blocks.Downsample2D;
import dev.tenstep.model.nn.Scope;
import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;

/**
 * VAE encoder level (diffusers {@code unet_2d_blocks.py DownEncoderBlock2D}): {@code layers}
 * resnets, the first mapping in -> out channels, then an optional {@link Downsample2D}.
 * x: [N, in, H, W] -> [N, out, H/2, W/2] (or [N, out, H, W] for the last level).
 */
final class DownEncoderBlock2D {
    final ResnetBlock2D[] resnets;
    final Downsample2D[] downsamplers;

    DownEncoderBlock2D(Weights w, String prefix, long in, long out, int layers, boolean downsample,
                       int groups, double eps) {
        this.resnets = new ResnetBlock2D[layers];
        for (int i = 0; i < layers; i++) {
            resnets[i] = new ResnetBlock2D(w, prefix + ".resnets." + i, i == 0 ? in : out, out, 0, groups, eps);
        }
        this.downsamplers = downsample
                ? new Downsample2D[] {new Downsample2D(w, prefix + ".downsamplers.0", out, 0)}
                : new Downsample2D[0];
    }

    NDArray forward(NDArray x) {
        return Scope.run(x, in -> {
            NDArray h = in;
            for (ResnetBlock2D r : resnets) {
                h = r.forward(h);
            }
            for (Downsample2D d : downsamplers) {
                h = d.forward(h);
            }
            return h;
        });
    }
}
