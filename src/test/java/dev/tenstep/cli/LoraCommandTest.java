package dev.tenstep.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tenstep.io.PngImages;
import dev.tenstep.io.SafeTensors;
import dev.tenstep.testing.Allclose;
import dev.tenstep.testing.Fixtures;
import dev.tenstep.testing.LoraFixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code <lora:...>} from the command line: {@code generate} and {@code batch} with {@code --lora-dir}. */
class LoraCommandTest {
    static final String PROMPT = "a photo of an astronaut riding a horse on mars";

    @TempDir
    Path tmp;

    private Path loraDir() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("Lora"));
        for (String f : List.of("tiny-sd15-kohya.safetensors", "tiny-sd21-kohya.safetensors")) {
            Files.createSymbolicLink(dir.resolve(f), LoraFixtures.file(f));
        }
        return dir;
    }

    /** The fixture's run b from the command line: the reference final latents, A1111's infotext. */
    @Test
    void generateAppliesTheLoraOfThePrompt() throws Exception {
        Path dir = loraDir();
        Path init = tmp.resolve("init.safetensors");
        Path saved = tmp.resolve("saved.safetensors");
        Path png = tmp.resolve("out.png");
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, NDArray> ref = SafeTensors.read(LoraFixtures.reference("tiny-sd15-kohya.pipeline"), m);
            SafeTensors.write(init, Map.of(GenerateCommand.INITIAL_LATENTS, ref.get("initial_latents")), Map.of());
            String prompt = LoraFixtures.caseById("tiny-sd15-kohya.pipeline").get("runs").get("b").get("a1111_prompt").asText();
            GenerateCommandTest.Run r = GenerateCommandTest.run("generate", "--model", Fixtures.dir(Fixtures.SD15).toString(),
                    "--no-progress", "--lora-dir", dir.toString(), "--prompt", prompt, "--sampler", "ddim", "--seed", "7",
                    "--init-latents", init.toString(), "--save-latents", saved.toString(), "-o", png.toString());
            assertEquals(0, r.exit(), r.err());
            Allclose.assertClose("generate run b final_latents", ref.get("b.final_latents"),
                    SafeTensors.read(saved, m).get("final_latents"),
                    LoraFixtures.tolerance("tiny-sd15-kohya.pipeline", "b.final_latents"));
            String params = PngImages.readText(png).get(PngImages.PARAMETERS);
            assertEquals(prompt + "\nSteps: 10, Sampler: DDIM, Schedule type: ddim, CFG scale: 7.5, Seed: 7, Size: 64x64, "
                    + "Model: tiny-sd15, Lora hashes: \"tiny-sd15-kohya: bbff1302ca45\", Init latents: init.safetensors", params);
        }
    }

    @Test
    void generateRefusesWhatItCannotApplyNamingIt() throws Exception {
        Path dir = loraDir();
        String model = Fixtures.dir(Fixtures.SD15).toString();
        GenerateCommandTest.Run unknown = GenerateCommandTest.run("generate", "--model", model, "--no-progress",
                "--lora-dir", dir.toString(), "--prompt", PROMPT + " <lora:nope:1>", "-o", tmp.resolve("a.png").toString());
        assertEquals(2, unknown.exit(), unknown.err());
        assertTrue(unknown.err().contains("unknown LoRA 'nope'") && unknown.err().contains("known: tiny-sd15-kohya, tiny-sd21-kohya"),
                unknown.err());
        GenerateCommandTest.Run arch = GenerateCommandTest.run("generate", "--model", model, "--no-progress",
                "--lora-dir", dir.toString(), "--prompt", PROMPT + " <lora:tiny-sd21-kohya:1>", "-o", tmp.resolve("b.png").toString());
        assertEquals(2, arch.exit(), arch.err());
        assertTrue(arch.err().contains("is for SD 2.x") && arch.err().contains("the model is SD 1.x"), arch.err());
        GenerateCommandTest.Run noDir = GenerateCommandTest.run("generate", "--model", model, "--no-progress",
                "--lora-dir", tmp.resolve("absent").toString(), "--prompt", PROMPT, "-o", tmp.resolve("c.png").toString());
        assertEquals(2, noDir.exit(), noDir.err());
        assertTrue(noDir.err().contains("--lora-dir: " + tmp.resolve("absent") + " is not a folder"), noDir.err());
        assertTrue(!Files.exists(tmp.resolve("a.png")) && !Files.exists(tmp.resolve("b.png")));
    }

    /** A prompt file mixing LoRA lines, a line without, and a line naming an unknown LoRA (reported, the batch goes on). */
    @Test
    void batchLinesCarryTheirOwnLoras() throws Exception {
        Path dir = loraDir();
        Path f = tmp.resolve("p.txt");
        Files.write(f, List.of("--prompt '" + PROMPT + " <lora:tiny-sd15-kohya:0.8>'", "--prompt '" + PROMPT + "'",
                "--prompt '" + PROMPT + " <lora:missing:1>'", "--prompt '" + PROMPT + " <lora:tiny-sd15-kohya:0.8>'"));
        Path out = tmp.resolve("out");
        GenerateCommandTest.Run r = GenerateCommandTest.run("batch", "--model", Fixtures.dir(Fixtures.SD15).toString(),
                "--prompts", f.toString(), "--output", out.toString(), "--lora-dir", dir.toString(), "--steps", "2",
                "--seed", "5", "--no-progress");
        assertEquals(1, r.exit(), r.err());
        assertTrue(r.err().contains(f + ":3: ") && r.err().contains("unknown LoRA 'missing'"), r.err());
        List<String> manifest = Files.readAllLines(out.resolve("manifest.jsonl"));
        assertEquals(3, manifest.size());
        ObjectMapper json = new ObjectMapper();
        JsonNode first = json.readTree(manifest.get(0));
        JsonNode plain = json.readTree(manifest.get(1));
        assertTrue(first.get("infotext").asText().endsWith(", Lora hashes: \"tiny-sd15-kohya: bbff1302ca45\""), first.toString());
        assertTrue(!plain.get("infotext").asText().contains("Lora hashes"), plain.toString());
        // line 2 ran on the base model between two LoRA lines: line 4 got the LoRA again
        JsonNode last = json.readTree(manifest.get(2));
        assertEquals(PROMPT + " <lora:tiny-sd15-kohya:0.8>", last.get("prompt").asText());
        assertTrue(last.get("infotext").asText().endsWith(", Lora hashes: \"tiny-sd15-kohya: bbff1302ca45\""), last.toString());
    }
}
