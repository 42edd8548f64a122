package dev.tenstep.fidelity;

import dev.tenstep.pipeline.IdealPipeline;
import dev.tenstep.sampling.ideal.IdealModels;
import dev.tenstep.sampling.ideal.ShapesDataSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The fidelity study on the built-in shapes model: GE + log-linear against DDIM at N = 10, and the outputs. */
class ShapesFidelityTest {
    @Test
    void gradientEstimationIsCloserThanDdimAtTenSteps(@TempDir Path dir) throws Exception {
        FidelityStudy.Options o = new FidelityStudy.Options(List.of("a red circle"), "", 7.5, List.of(0L, 1L, 2L, 3L),
                List.of(SamplerSpec.parse("ge"), SamplerSpec.parse("ddim")), List.of(10),
                300, 150, 2, FidelityStudy.ReferenceStart.RUN);
        FidelityResult r = new FidelityStudy(new IdealPipeline(IdealModels.SHAPES, ShapesDataSet.get()), o).run(System.out::println);
        System.out.print(r.table());
        FidelityResult.Summary ge = r.summary("ge", "log-linear", 10).orElseThrow();
        FidelityResult.Summary ddim = r.summary("ddim", "ddim", 10).orElseThrow();
        assertEquals(4, ge.runs());
        // the reference is converged far below the differences measured
        assertTrue(r.checkRmsMax() < 0.05 * ge.rmseMean(), "reference check " + r.checkRmsMax());
        // measured (4 seeds, 300-step reference): GE 1.6e-3, DDIM 2.4e-3
        assertTrue(ge.rmseMean() < 0.8 * ddim.rmseMean(), "GE " + ge.rmseMean() + " vs DDIM " + ddim.rmseMean());
        assertTrue(ge.psnrMean() > ddim.psnrMean(), "PSNR GE " + ge.psnrMean() + " vs DDIM " + ddim.psnrMean());

        List<Path> files = r.write(dir);
        assertEquals(List.of("fidelity.json", "fidelity.csv", "fidelity.png"),
                files.stream().map(p -> p.getFileName().toString()).toList());
        String csv = Files.readString(dir.resolve("fidelity.csv"));
        assertTrue(csv.startsWith("sampler,schedule,steps,runs,latent_rmse_mean,"), csv);
        assertEquals(3, csv.lines().count(), csv);
        assertTrue(Files.readString(dir.resolve("fidelity.json")).contains("\"reference_checks\""));
        BufferedImage chart = ImageIO.read(dir.resolve("fidelity.png").toFile());
        assertEquals(FidelityChart.WIDTH, chart.getWidth());
    }
}
