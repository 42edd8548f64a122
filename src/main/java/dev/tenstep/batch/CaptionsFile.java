package dev.tenstep.batch;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A COCO-style captions file ({@code captions_val2014.json}: an object whose {@code annotations} array holds
 * {@code {"image_id": 179765, "id": 38, "caption": "A black Honda motorcycle ..."}}) as prompt entries: the
 * prompts of the paper's FID protocol (the first 30,000 COCO 2014 validation captions).
 *
 * <p>Images are taken in the order their first annotation appears; {@link PerImage} picks each image's first,
 * last or every caption (in array order), and a limit keeps the first N prompts so chosen. An entry's
 * {@link PromptEntry#line() line} is the 1-based position of its annotation in the array, so its record key,
 * {@code source} ({@code captions_val2014.json:17}) and image name depend only on the annotation, not on the
 * selection; its index (seed = base + index) is its position among the chosen prompts. A caption is literal text
 * ({@link PromptFile#plainPrompt}: plain prompt syntax unless {@code --prompt-syntax} is given), its line breaks
 * become spaces and it is trimmed; an empty caption is an invalid entry, reported like a bad prompt line.
 */
public final class CaptionsFile {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Which captions of an image become prompts ({@code --captions-per-image}). */
    public enum PerImage {
        /** The image's first caption in the file. */
        FIRST,
        /** Its last caption. */
        LAST,
        /** All its captions, in file order. */
        ALL;

        /** {@code first}, {@code last} or {@code all}, any case. */
        public String id() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** @throws IllegalArgumentException naming the valid values */
        public static PerImage parse(String s) {
            for (PerImage p : values()) {
                if (p.id().equalsIgnoreCase(s == null ? "" : s.trim())) {
                    return p;
                }
            }
            throw new IllegalArgumentException("'" + s + "' is not first, last or all");
        }
    }

    private CaptionsFile() {
    }

    /**
     * Reads a captions file.
     *
     * @param perImage   which captions of each image to take
     * @param limit      keep at most this many prompts (null: all), at least 1
     * @param defaults   the batch defaults (not modified)
     * @param firstIndex the index of the first prompt in the batch
     * @throws IOException              when the file cannot be read
     * @throws IllegalArgumentException naming the file (and the annotation) when it is not a captions file: not
     *                                  JSON, no {@code annotations} array, an annotation without an
     *                                  {@code image_id} or a text {@code caption}
     */
    public static List<PromptEntry> read(Path file, PerImage perImage, Integer limit, GenerationOptions defaults,
                                         int firstIndex) throws IOException {
        if (limit != null && limit < 1) {
            throw new IllegalArgumentException("the limit must be at least 1, got " + limit);
        }
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(file));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(file + ": not JSON (" + e.getOriginalMessage() + ")");
        }
        JsonNode annotations = root == null ? null : root.get("annotations");
        if (annotations == null || !annotations.isArray()) {
            throw new IllegalArgumentException(file + ": no \"annotations\" array (a COCO captions file has one)");
        }
        // image id -> positions (0-based) of its annotations, images in order of first appearance
        Map<String, List<Integer>> byImage = new LinkedHashMap<>();
        List<String> captions = new ArrayList<>();
        for (int i = 0; i < annotations.size(); i++) {
            JsonNode a = annotations.get(i);
            JsonNode image = a.get("image_id");
            JsonNode caption = a.get("caption");
            if (image == null || !(image.isIntegralNumber() || image.isTextual())) {
                throw new IllegalArgumentException(file + ": annotations[" + i + "] has no image_id");
            }
            if (caption == null || !caption.isTextual()) {
                throw new IllegalArgumentException(file + ": annotations[" + i + "] has no text caption");
            }
            byImage.computeIfAbsent(image.asText(), k -> new ArrayList<>()).add(i);
            captions.add(caption.asText());
        }
        List<Integer> chosen = new ArrayList<>();
        for (List<Integer> positions : byImage.values()) {
            switch (perImage) {
                case FIRST -> chosen.add(positions.get(0));
                case LAST -> chosen.add(positions.get(positions.size() - 1));
                case ALL -> chosen.addAll(positions);
            }
        }
        if (limit != null && chosen.size() > limit) {
            chosen = chosen.subList(0, limit);
        }
        List<PromptEntry> out = new ArrayList<>();
        for (int position : chosen) {
            out.add(entry(file, position + 1, firstIndex + out.size(), captions.get(position), defaults));
        }
        return out;
    }

    /**
     * The entry of the caption at 1-based annotation position {@code line}: the same on the Spark job's driver and
     * executors.
     */
    public static PromptEntry entry(Path file, int line, int index, String caption, GenerationOptions defaults) {
        String text = caption.replaceAll("[\\r\\n]+", " ").strip();
        if (text.isEmpty()) {
            return new PromptEntry(file, line, index, null, null, "empty caption");
        }
        return PromptFile.plainPrompt(file, line, index, text, defaults);
    }
}
