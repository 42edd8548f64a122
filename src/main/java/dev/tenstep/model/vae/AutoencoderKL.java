package dev.tenstep.model.vae;

import dev.tenstep.model.nn.Scope;
import dev.tenstep.model.nn.Profiler;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.model.Weights;
import dev.tenstep.model.config.Configs;
import dev.tenstep.model.config.VaeConfig;
import dev.tenstep.model.nn.Conv2d;

import java.nio.file.Path;
import java.util.function.BiConsumer;

/**
 * Stable Diffusion's KL autoencoder (diffusers {@code autoencoder_kl.py AutoencoderKL}, built from
 * {@code vae.py} Encoder/Decoder, {@code resnet.py} and {@code attention_processor.py}), running on
 * DJL. Every dimension comes from {@code vae/config.json}; every GroupNorm uses eps 1e-6.
 *
 * <p>Tensors are NCHW float32. The image is {@code f = 2^(levels - 1)} times the latent per side
 * ({@link VaeConfig#downscale()}), levels = {@code block_out_channels.length}.
 *
 * <p>Memory: every result belongs to the manager of the input array; intermediates live in
 * per-block sub-managers and are freed as each block finishes. Weights are read-only views of the
 * mapped file, owned by the manager given to {@link #load}.
 */
public final class AutoencoderKL {
    /** GroupNorm epsilon of every VAE norm (diffusers passes {@code resnet_eps=1e-6}). */
    static final double EPS = 1e-6;

    final Encoder encoder;
    final Decoder decoder;
    final Conv2d quantConv;
    final Conv2d postQuantConv;
    private final VaeConfig config;

    /**
     * Builds the VAE from {@code config}, taking every weight from {@code w} (a file, or
     * {@link Weights#random} for the demo pipeline) and calling {@link Weights#finish()}.
     */
    public AutoencoderKL(Weights w, VaeConfig config) {
        this.config = config;
        long l = config.latentChannels();
        this.encoder = new Encoder(w, "encoder", config, EPS);
        this.decoder = new Decoder(w, "decoder", config, EPS);
        this.quantConv = new Conv2d(w, "quant_conv", 2 * l, 2 * l, 1);
        this.postQuantConv = new Conv2d(w, "post_quant_conv", l, l, 1);
        w.finish();
    }

    /**
     * Loads {@code vaeDir/config.json} and the weight file of {@code vaeDir} (see
     * {@link Weights#findWeightFile}). Both attention naming schemes are accepted (legacy
     * {@code query/key/value/proj_attn}, current {@code to_q/to_k/to_v/to_out.0}); projection
     * weights may be linear [C, C] or 1x1-conv [C, C, 1, 1].
     *
     * @param vaeDir  a diffusers {@code vae/} folder
     * @param manager owns the weights (zero-copy views of the file) for the model's lifetime
     * @throws dev.tenstep.model.ModelLoadException if the config is missing/unsupported, a weight is
     *                                              missing or mis-shaped (named in the message), or
     *                                              the file holds weights the config does not use
     */
    public static AutoencoderKL load(Path vaeDir, NDManager manager) {
        return load(vaeDir, manager, ai.djl.ndarray.types.DataType.FLOAT32);
    }

    /** As {@link #load(Path, NDManager)}, the weights created as {@code floatType} on the manager's device. */
    public static AutoencoderKL load(Path vaeDir, NDManager manager, ai.djl.ndarray.types.DataType floatType) {
        VaeConfig config = Configs.read(vaeDir.resolve("config.json"), VaeConfig.class);
        try (Weights w = Weights.open(vaeDir, manager, VaeNames::toCurrent, floatType)) {
            return new AutoencoderKL(w, config);
        }
    }

    public VaeConfig config() {
        return config;
    }

    /** {@link #decode(NDArray, BiConsumer)} without debug hook. */
    public NDArray decode(NDArray z) {
        return decode(z, null);
    }

    /**
     * Decodes unscaled latents: {@code decoder(post_quant_conv(z))}. The pipeline divides its
     * latents by {@code scaling_factor} before calling this.
     *
     * @param z    [B, latent_channels, h, w], unscaled
     * @param hook receives {@code vae.post_quant_conv}, {@code vae.decoder.conv_in},
     *             {@code vae.decoder.mid_block}, {@code vae.decoder.up_blocks.N}; the arrays are
     *             attached to z's manager and stay valid after the call (do not modify them); may be null
     * @return the raw image [B, out_channels, h * f, w * f], not clamped (nominal range [-1, 1]),
     *         attached to z's manager
     * @throws IllegalArgumentException if z is not [B, latent_channels, h, w]
     */
    public NDArray decode(NDArray z, BiConsumer<String, NDArray> hook) {
        return Profiler.time("vae", () -> decodeImpl(z, hook));
    }

    private NDArray decodeImpl(NDArray z, BiConsumer<String, NDArray> hook) {
        long[] s = z.getShape().getShape();
        if (s.length != 4 || s[1] != config.latentChannels()) {
            throw new IllegalArgumentException("VAE decode expects latents [B, " + config.latentChannels()
                    + ", h, w], got " + z.getShape());
        }
        BiConsumer<String, NDArray> h = keep(hook, z.getManager());
        return Scope.run(z, in -> {
            NDArray p = postQuantConv.forward(in);
            Scope.emit(h, "vae.post_quant_conv", p);
            return decoder.forward(p, h);
        });
    }

    /** {@link #encode(NDArray, BiConsumer)} without debug hook. */
    public LatentDist encode(NDArray image) {
        return encode(image, null);
    }

    /**
     * Encodes an image to the posterior {@code quant_conv(encoder(image))} split into mean and
     * logvar (clamped to [-30, 20]), unscaled.
     *
     * @param image [B, in_channels, H, W] in [-1, 1]; H and W multiples of {@code f}
     * @param hook  receives {@code vae.encoder.conv_in}, {@code vae.encoder.down_blocks.N},
     *              {@code vae.encoder.mid_block}, {@code vae.quant_conv} (attached to image's
     *              manager, valid after the call); may be null
     * @return mean and logvar [B, latent_channels, H / f, W / f], attached to image's manager
     * @throws IllegalArgumentException if the shape is wrong or H, W are not multiples of f
     */
    public LatentDist encode(NDArray image, BiConsumer<String, NDArray> hook) {
        long[] s = image.getShape().getShape();
        if (s.length != 4 || s[1] != config.inChannels()) {
            throw new IllegalArgumentException("VAE encode expects an image [B, " + config.inChannels()
                    + ", H, W], got " + image.getShape());
        }
        int f = config.downscale();
        if (s[2] % f != 0 || s[3] % f != 0) {
            throw new IllegalArgumentException("VAE encode: image size " + s[3] + "x" + s[2] + " (WxH) is not a multiple of "
                    + f + " (2^(levels-1) for " + config.blockOutChannels().length + " VAE levels)");
        }
        NDManager caller = image.getManager();
        BiConsumer<String, NDArray> h = keep(hook, caller);
        try (NDManager sub = caller.newSubManager()) {
            image.tempAttach(sub);
            NDArray moments = quantConv.forward(encoder.forward(image, h));
            Scope.emit(h, "vae.quant_conv", moments);
            long l = config.latentChannels();
            NDArray mean = moments.get(":, 0:{}", l);
            if (!dev.tenstep.model.nn.Ops.recording()) {
                // a copy, not a view of moments (DJL's duplicate detaches it from autograd: not while training)
                mean = mean.duplicate();
            }
            NDArray logvar = moments.get(":, {}:", l).clip(-30, 20);
            mean.attach(caller);
            logvar.attach(caller);
            return new LatentDist(mean, logvar);
        }
    }

    private static BiConsumer<String, NDArray> keep(BiConsumer<String, NDArray> hook, NDManager caller) {
        if (hook == null) {
            return null;
        }
        return (name, a) -> {
            a.attach(caller);
            hook.accept(name, a);
        };
    }
}
