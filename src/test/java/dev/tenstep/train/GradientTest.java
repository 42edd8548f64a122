package dev.tenstep.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import dev.tenstep.model.clip.ClipTextModel;
import dev.tenstep.model.nn.AttentionSettings;
import dev.tenstep.model.nn.Ops;
import dev.tenstep.model.unet.UNet2DConditionModel;
import dev.tenstep.model.vae.AutoencoderKL;
import dev.tenstep.model.vae.LatentDist;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The model classes are differentiable through DJL's autograd when built from {@link Parameters}:
 * every weight of the text encoder, the UNet and the VAE gets a non-zero gradient, and sample
 * gradients agree with central finite differences of the same forward pass.
 */
class GradientTest {
    @Test
    void everyWeightGetsAGradientThatMatchesFiniteDifferences() {
        ModelSizes s = ModelSizes.tiny();
        Engine.getInstance();
        boolean gradMode = JniUtils.isGradMode();
        JniUtils.setGradMode(false);
        try (NDManager m = NDManager.newBaseManager();
             AttentionSettings.Scope fused = AttentionSettings.use(AttentionSettings.DEFAULT)) {
            Parameters tp = Parameters.initial(m, 0, w -> new ClipTextModel(w, s.textEncoderConfig()));
            Parameters up = Parameters.initial(m, 1, w -> new UNet2DConditionModel(s.unetConfig(), w));
            Parameters vp = Parameters.initial(m, 2, w -> new AutoencoderKL(w, s.vaeConfig()));
            ClipTextModel text = new ClipTextModel(tp.weights(), s.textEncoderConfig());
            UNet2DConditionModel unet = new UNet2DConditionModel(s.unetConfig(), up.weights());
            AutoencoderKL vae = new AutoencoderKL(vp.weights(), s.vaeConfig());
            NDArray ids = m.create(new long[] {49406, 320, 736, 3086, 49407, 49407, 49406, 49407, 49407, 49407, 49407, 49407},
                    new Shape(2, 6));
            NDArray x = m.randomNormal(0, 1, new Shape(2, 4, 8, 8), ai.djl.ndarray.types.DataType.FLOAT32);
            NDArray t = m.create(new float[] {10, 900});
            NDArray image = m.randomUniform(-1, 1, new Shape(2, 3, 32, 32));
            NDArray noise = m.randomNormal(new Shape(2, 4, 8, 8));
            // one scalar of everything: the UNet on the text encoder's context, the VAE's reconstruction
            Supplier<NDArray> loss = () -> {
                NDArray eps = unet.forward(x, t, text.forward(ids));
                LatentDist d = vae.encode(image);
                NDArray rec = vae.decode(d.sample(noise));
                return eps.square().sum().add(rec.sub(image).square().sum()).add(d.logvar().exp().sum());
            };
            try (NDManager step = m.newSubManager();
                 Ops.Recording r = Ops.recordGradients();
                 GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray l = loss.get();
                l.attach(step);
                gc.backward(l);
            }
            List<String> zero = new ArrayList<>();
            for (Parameters p : List.of(tp, up, vp)) {
                for (Map.Entry<String, NDArray> e : p.arrays().entrySet()) {
                    if (e.getValue().getGradient().abs().sum().getFloat() == 0f) {
                        zero.add(e.getKey());
                    }
                }
            }
            // the token table's rows of unused ids get no gradient, every other weight does
            assertEquals(List.of(), zero, "weights without gradient");
            for (Map.Entry<Parameters, String> probe : Map.of(up, "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight",
                    vp, "encoder.mid_block.resnets.0.norm1.weight", tp, "text_model.encoder.layers.0.mlp.fc1.weight").entrySet()) {
                NDArray w = probe.getKey().arrays().get(probe.getValue());
                float analytic = w.getGradient().toFloatArray()[0];
                float h = 1e-2f;
                float[] d = new float[Math.toIntExact(w.size())];
                double[] lossAt = new double[2];
                for (int k = 0; k < 2; k++) {
                    // in place (the modules' views of the weight see it), as the optimizer updates
                    d[0] = k == 0 ? h : -2 * h;
                    try (NDManager step = m.newSubManager()) {
                        w.addi(step.create(d, w.getShape()));
                        NDArray l = loss.get();
                        l.attach(step);
                        lossAt[k] = l.getFloat();
                    }
                }
                d[0] = h;
                try (NDManager step = m.newSubManager()) {
                    w.addi(step.create(d, w.getShape()));
                }
                double numeric = (lossAt[0] - lossAt[1]) / (2 * h);
                assertTrue(Math.abs(numeric - analytic) <= 0.05 * Math.abs(analytic) + 1e-2,
                        probe.getValue() + ": autograd " + analytic + ", finite differences " + numeric);
            }
        } finally {
            JniUtils.setGradMode(gradMode);
        }
    }
}
