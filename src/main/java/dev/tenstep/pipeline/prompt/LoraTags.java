package dev.tenstep.pipeline.prompt;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * AUTOMATIC1111's extra-network tags in a prompt, {@code <lora:NAME:TE:UNET>}: found and removed from the
 * text before it is tokenised, as {@code modules/extra_networks.py} {@code parse_prompt} does
 * ({@code re.sub(r"<(\w+):([^>]+)>", "", prompt)}), so {@code "a cat <lora:x:0.8>"} is encoded as
 * {@code "a cat "}. The multipliers follow {@code extensions-builtin/Lora/extra_networks_lora.py}
 * {@code activate}: te = the second item (default 1), unet = the third item if given, else te; named items
 * {@code te=} and {@code unet=} override; negative values are allowed.
 */
public final class LoraTags {
    private static final Pattern TAG = Pattern.compile("<(\\w+):([^>]+)>");

    private LoraTags() {
    }

    /**
     * One {@code <lora:...>} tag.
     *
     * @param name the LoRA's name (its file name without {@code .safetensors})
     * @param te   the text-encoder multiplier
     * @param unet the UNet multiplier
     */
    public record Lora(String name, double te, double unet) {
    }

    /**
     * A prompt with its tags taken out.
     *
     * @param text  the prompt without the tags (what is tokenised)
     * @param loras the LoRA tags, in prompt order
     */
    public record Parsed(String text, List<Lora> loras) {
    }

    /**
     * Takes the extra-network tags out of a prompt.
     *
     * @throws PromptSyntaxException for a tag of another extra-network type (A1111's {@code hypernet}, …:
     *                               it would change the picture and is not supported), a LoRA tag without a name,
     *                               or a multiplier that is not a number
     */
    public static Parsed parse(String prompt) {
        Matcher m = TAG.matcher(prompt);
        List<Lora> loras = new ArrayList<>();
        while (m.find()) {
            String type = m.group(1);
            if (!type.equals("lora")) {
                throw new PromptSyntaxException("<" + type + ":" + m.group(2) + ">: extra network '" + type
                        + "' is not supported (only <lora:NAME:MULTIPLIER>)");
            }
            List<String> positional = new ArrayList<>();
            Double te = null;
            Double unet = null;
            for (String item : m.group(2).split(":", -1)) {
                int eq = item.indexOf('=');
                if (eq > 0) {
                    String key = item.substring(0, eq).trim().toLowerCase(Locale.ROOT);
                    double v = number(m.group(), item.substring(eq + 1));
                    switch (key) {
                        case "te" -> te = v;
                        case "unet" -> unet = v;
                        case "dyn" -> throw new PromptSyntaxException(m.group() + ": dyn= (dynamic LoRA dimension) is not supported");
                        default -> throw new PromptSyntaxException(m.group() + ": unknown named argument '" + key + "' (te=, unet=)");
                    }
                } else {
                    positional.add(item);
                }
            }
            String name = positional.isEmpty() ? "" : positional.get(0).trim();
            if (name.isEmpty()) {
                throw new PromptSyntaxException(m.group() + ": the LoRA tag names no file (<lora:NAME:MULTIPLIER>)");
            }
            double teM = positional.size() > 1 ? number(m.group(), positional.get(1)) : 1.0;
            if (te != null) {
                teM = te;
            }
            double unetM = positional.size() > 2 ? number(m.group(), positional.get(2)) : teM;
            if (unet != null) {
                unetM = unet;
            }
            loras.add(new Lora(name, teM, unetM));
        }
        return new Parsed(TAG.matcher(prompt).replaceAll(""), List.copyOf(loras));
    }

    /**
     * The prompt without its extra-network tags, whatever their type ({@code <lora:...>}, {@code <hypernet:...>}):
     * the text that is tokenised, for counting tokens as A1111's counter does. Never throws.
     */
    public static String removeTags(String prompt) {
        return TAG.matcher(prompt).replaceAll("");
    }

    private static double number(String tag, String s) {
        try {
            double v = Double.parseDouble(s.trim());
            if (!Double.isFinite(v)) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException e) {
            throw new PromptSyntaxException(tag + ": multiplier '" + s.trim() + "' is not a number");
        }
    }
}
