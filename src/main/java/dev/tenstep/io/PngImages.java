package dev.tenstep.io;

import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOInvalidTreeException;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.ImageOutputStream;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * PNG files with text chunks through javax.imageio. A1111 stores its generation parameters in a
 * text chunk with keyword {@code parameters}: written as tEXt when the text is Latin-1, otherwise
 * as iTXt (UTF-8), which is what A1111 and ComfyUI readers accept.
 */
public final class PngImages {
    /** A1111's keyword for the generation infotext. */
    public static final String PARAMETERS = "parameters";

    private PngImages() {
    }

    /** Encodes {@code image} as PNG with the given text chunks (keyword -> text). */
    public static byte[] encode(BufferedImage image, Map<String, String> text) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        write(image, text, bytes);
        return bytes.toByteArray();
    }

    /** Writes the PNG to {@code out}. */
    public static void write(BufferedImage image, Map<String, String> text, OutputStream out) throws IOException {
        Iterator<ImageWriter> writers = ImageIO.getImageWritersByFormatName("png");
        ImageWriter writer = writers.next();
        try (ImageOutputStream ios = ImageIO.createImageOutputStream(out)) {
            writer.setOutput(ios);
            ImageWriteParam param = writer.getDefaultWriteParam();
            IIOMetadata meta = writer.getDefaultImageMetadata(ImageTypeSpecifier.createFromRenderedImage(image), param);
            addText(meta, text);
            writer.write(null, new IIOImage(image, null, meta), param);
        } finally {
            writer.dispose();
        }
    }

    private static void addText(IIOMetadata meta, Map<String, String> text) throws IIOInvalidTreeException {
        String format = "javax_imageio_png_1.0";
        IIOMetadataNode root = new IIOMetadataNode(format);
        IIOMetadataNode tEXt = new IIOMetadataNode("tEXt");
        IIOMetadataNode iTXt = new IIOMetadataNode("iTXt");
        for (Map.Entry<String, String> e : text.entrySet()) {
            if (StandardCharsets.ISO_8859_1.newEncoder().canEncode(e.getValue())) {
                IIOMetadataNode entry = new IIOMetadataNode("tEXtEntry");
                entry.setAttribute("keyword", e.getKey());
                entry.setAttribute("value", e.getValue());
                tEXt.appendChild(entry);
            } else {
                IIOMetadataNode entry = new IIOMetadataNode("iTXtEntry");
                entry.setAttribute("keyword", e.getKey());
                entry.setAttribute("compressionFlag", "FALSE");
                entry.setAttribute("compressionMethod", "0");
                entry.setAttribute("languageTag", "");
                entry.setAttribute("translatedKeyword", "");
                entry.setAttribute("text", e.getValue());
                iTXt.appendChild(entry);
            }
        }
        if (tEXt.hasChildNodes()) {
            root.appendChild(tEXt);
        }
        if (iTXt.hasChildNodes()) {
            root.appendChild(iTXt);
        }
        meta.mergeTree(format, root);
    }

    /** Reads the tEXt and iTXt chunks of a PNG (keyword -> text). */
    public static Map<String, String> readText(InputStream in) throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        try (ImageInputStream iis = ImageIO.createImageInputStream(in)) {
            Iterator<javax.imageio.ImageReader> readers = ImageIO.getImageReaders(iis);
            if (!readers.hasNext()) {
                throw new IOException("not an image");
            }
            javax.imageio.ImageReader reader = readers.next();
            try {
                reader.setInput(iis);
                IIOMetadata meta = reader.getImageMetadata(0);
                org.w3c.dom.Node root = meta.getAsTree("javax_imageio_png_1.0");
                for (org.w3c.dom.Node n = root.getFirstChild(); n != null; n = n.getNextSibling()) {
                    if (n.getNodeName().equals("tEXt") || n.getNodeName().equals("iTXt")) {
                        for (org.w3c.dom.Node e = n.getFirstChild(); e != null; e = e.getNextSibling()) {
                            var attrs = e.getAttributes();
                            String key = attrs.getNamedItem("keyword").getNodeValue();
                            var v = attrs.getNamedItem(n.getNodeName().equals("tEXt") ? "value" : "text");
                            out.put(key, v == null ? "" : v.getNodeValue());
                        }
                    }
                }
            } finally {
                reader.dispose();
            }
        }
        return out;
    }

    public static Map<String, String> readText(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return readText(in);
        }
    }
}
