package dev.tenstep.model.vae;

import dev.tenstep.model.blocks.ResnetBlock2D;
import dev.tenstep.model.blocks.Upsample2D;
import dev.tenstep.model.nn.Scope;
import ai.djl.ndarray.NDArray;
import dev.tenstep.model.Weights;

/**
 * VAE decoder level (diffusers {@code unet_2d_blocks.py UpDecoderBlock2D}): {@code layers}
 * resnets (layers_per_block + 1), the first mapping in -> out channels, then an optional
 * {@link Upsample2D}. x: [N, in, H, W] -> [N, out, 2H, 2W] (or [N, out, H, W] for the last level).
 */
final class UpDecoderBlock2D {
    final ResnetBlock2D[] resnets;
    final Upsample2D[] upsamplers;

    UpDecoderBlock2D(Weights w, String prefix, long in, long out, int layers, boolean upsample,
                     int groups, double eps) {
        this.resnets = new ResnetBlock2D[layers];
        for (int i = 0; i < layers; i++) {
            resnets[i] = new ResnetBlock2D(w, prefix + ".resnets." + i, i == 0 ? in : out, out, 0, groups, eps);
        }
        this.upsamplers = upsample
                ? new Upsample2D[] {new Upsample2D(w, prefix + ".upsamplers.0", out)}
                : new Upsample2D[0];
    }

    NDArray forward(NDArray x) {
        return Scope.run(x, in -> {
            NDArray h = in;
            for (ResnetBlock2D r : resnets) {
                h = r.forward(h);
            }
            for (Upsample2D u : upsamplers) {
                h = u.forward(h);
            }
            return h;
        });
    }
}
