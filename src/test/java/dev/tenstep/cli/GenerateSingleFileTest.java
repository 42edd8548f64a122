package dev.tenstep.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.tenstep.io.PngImages;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Done-when of issue 9: {@code generate --model <single file> --config <folder fixture>} reproduces
 * the folder fixture's sampler references, and the infotext carries A1111's model hash and name.
 */
class GenerateSingleFileTest {
    @TempDir
    Path tmp;

    private Map<String, NDArray> generate(String fixture, NDManager m, String expectedHash, String... extra) throws Exception {
        Path init = tmp.resolve(fixture + "-init.safetensors");
        Path saved = tmp.resolve(fixture + "-saved.safetensors");
        Path png = tmp.resolve(fixture + ".png");
        Map<String, NDArray> inputs = SafeTensors.read(Fixtures.reference(fixture, "pipeline_ddim.safetensors"), m);
        SafeTensors.write(init, Map.of(GenerateCommand.INITIAL_LATENTS, inputs.get("initial_latents")), Map.of());
        String[] base = {"generate", "--model", Fixtures.writableCopy("single-file/" + fixture + ".safetensors").toString(),
                "--config", Fixtures.dir(fixture).toString(), "--no-progress", "--prompt", "a photo of an astronaut riding a horse on mars",
                "--seed", "7", "--init-latents", init.toString(), "--save-latents", saved.toString(), "-o", png.toString()};
        String[] args = java.util.Arrays.copyOf(base, base.length + extra.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        GenerateCommandTest.Run r = GenerateCommandTest.run(args);
        assertEquals(0, r.exit(), r.err());
        String params = PngImages.readText(png).get(PngImages.PARAMETERS);
        assertTrue(params.contains(", Model hash: " + expectedHash + ", Model: " + fixture + ","), params);
        return SafeTensors.read(saved, m);
    }

    @Test
    void sd15SingleFileReproducesGeAndDdim() throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(Fixtures.SD15, "sigma_sampler.safetensors"), m);
            Map<String, NDArray> ge = generate(Fixtures.SD15, m, "3e4a28f774");
            Allclose.assertClose("generate single-file tiny-sd15 GE final_latents", ref.get("f_loglinear_g2.final_latents"),
                    ge.get("final_latents"), Fixtures.tolerance(Fixtures.SD15, "sigma_sampler", "f_loglinear_g2.final_latents"));
            Map<String, NDArray> ddim = generate(Fixtures.SD15, m, "3e4a28f774", "--sampler", "ddim");
            Map<String, NDArray> pd = SafeTensors.read(Fixtures.reference(Fixtures.SD15, "pipeline_ddim.safetensors"), m);
            Allclose.assertClose("generate single-file tiny-sd15 DDIM final_latents", pd.get("final_latents"),
                    ddim.get("final_latents"), Fixtures.tolerance(Fixtures.SD15, "pipeline_ddim", "final_latents"));
        }
    }

    @Test
    void sd21VPredictionSingleFileReproducesGe() throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> ref = SafeTensors.read(Fixtures.reference(Fixtures.SD21, "sigma_sampler.safetensors"), m);
            Map<String, NDArray> ge = generate(Fixtures.SD21, m, "326a85900e");
            Allclose.assertClose("generate single-file tiny-sd21 GE final_latents", ref.get("f_loglinear_g2.final_latents"),
                    ge.get("final_latents"), Fixtures.tolerance(Fixtures.SD21, "sigma_sampler", "f_loglinear_g2.final_latents"));
        }
    }

    @Test
    void checkpointOptionsAreRefusedForFoldersAndWithoutConfigTheErrorAsksForIt() {
        GenerateCommandTest.Run r = GenerateCommandTest.run("generate", "--model", Fixtures.dir(Fixtures.SD15).toString(), "--ema");
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("apply to single-file checkpoints"), r.err());
        r = GenerateCommandTest.run("generate", "--model", Fixtures.writableCopy("single-file/tiny-sd15.safetensors").toString(),
                "-o", tmp.resolve("x.png").toString());
        assertTrue(r.exit() != 0);
        assertTrue(r.err().contains("Pass --config DIR"), r.err());
    }
}
