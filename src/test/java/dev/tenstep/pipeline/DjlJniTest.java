package dev.tenstep.pipeline;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Which DJL JNI is loaded and whether it carries the bf16 patch: the record beside it, checked by SHA-256. */
class DjlJniTest {
    @Test
    void findsTheJniInProcMaps() {
        List<String> maps = List.of(
                "7f00-7f10 r-xp 00000000 fd:00 12 /usr/lib/x86_64-linux-gnu/libc.so.6",
                "7f20-7f30 r--p 00000000 00:00 0 ",
                "7f40-7f50 r-xp 00000000 fd:00 34 /root/.tenstep/libtorch-1.13.0/lib/0.36.0-libdjl_torch.so",
                "7f60-7f70 r-xp 00000000 fd:00 56 /root/.djl.ai/pytorch/2.7.1-cpu/0.36.0-cpu-libdjl_torch.so");
        assertEquals(Path.of("/root/.tenstep/libtorch-1.13.0/lib/0.36.0-libdjl_torch.so"), DjlJni.fromMaps(maps));
        assertNull(DjlJni.fromMaps(List.of("7f00-7f10 r-xp 00000000 fd:00 12 /usr/lib/libc.so.6")));
        assertNull(DjlJni.fromMaps(List.of("7f00-7f10 r-xp 0 fd:00 12 /tmp/0.36.0-libdjl_torch.so (deleted)")));
    }

    @Test
    void patchedOnlyWithAMatchingRecord(@TempDir Path dir) throws IOException {
        Path lib = dir.resolve("0.36.0-libdjl_torch.so");
        Files.write(lib, new byte[] {1, 2, 3});
        // sha256 of the bytes 01 02 03
        String sha = "039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81";
        assertEquals(sha, DjlJni.sha256(lib));

        DjlJni none = DjlJni.inspect(lib);
        assertFalse(none.patched());
        assertTrue(none.reason().contains("has no tenstep-djl-jni.properties beside it"), none.reason());

        Path record = dir.resolve(DjlJni.RECORD);
        Files.writeString(record, "# test\nbf16_patch=yes\nlibrary_sha256=" + sha + "\nlibtorch_version=2.14.1\n"
                + "libtorch_package=libtorch-dev 2.14.1+dfsg-1\n");
        DjlJni ok = DjlJni.inspect(lib);
        assertTrue(ok.patched(), String.valueOf(ok.reason()));
        assertNull(ok.reason());
        assertEquals("libtorch 2.14.1 (libtorch-dev 2.14.1+dfsg-1)", ok.libtorchDescription());

        Files.write(lib, new byte[] {1, 2, 4});
        DjlJni other = DjlJni.inspect(lib);
        assertFalse(other.patched(), "a record beside another library does not count");
        assertTrue(other.reason().contains("is not the one") && other.reason().contains("recorded " + sha), other.reason());

        Files.write(lib, new byte[] {1, 2, 3});
        Files.writeString(record, "bf16_patch=no\nlibrary_sha256=" + sha + "\n");
        DjlJni unpatched = DjlJni.inspect(lib);
        assertFalse(unpatched.patched());
        assertTrue(unpatched.reason().endsWith("does not say bf16_patch=yes"), unpatched.reason());
    }
}
