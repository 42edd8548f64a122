#!/usr/bin/env bash
# Builds DJL 0.36.0's PyTorch JNI (libdjl_torch) against an installed libtorch whose version is not DJL's own
# (2.7.1), with the bf16 patch, and puts it where DJL looks: <libtorch lib folder>/0.36.0-libdjl_torch.so, with a
# record of the build beside it (tenstep-djl-jni.properties). See docs/gpu.md.
#
#   scripts/build-djl-jni.sh TORCH_DIR [SOURCES]
#
# TORCH_DIR  one of
#            - a pip PyTorch package folder (python3 -c "import torch,os;print(os.path.dirname(torch.__file__))")
#              or an unzipped libtorch: include/ (the C++ headers) and lib/ (libtorch.so, libc10.so);
#            - a system prefix in Debian's layout (/usr with `apt-get install libtorch-dev`): headers under
#              /usr/include/torch, libraries under /usr/lib/<arch>-linux-gnu. DJL loads every library of the folder
#              it is pointed at, so the script then makes a folder of its own (OUT, default
#              ~/.tenstep/libtorch-<version>/lib) holding links to libc10/libtorch_cpu/libtorch, the JNI, the
#              record, and ../build-version for the launcher: run with ./tenstep --torch-home OUT/.. .
# SOURCES    DJL's JNI sources at tag v0.36.0, either
#            - a .tar.xz/.tar.gz holding djl/native/*.cc, djl/native/ai_djl_pytorch_jni_PyTorchLibrary.h,
#              djl/native/djl/utils.h and Java's JNI headers under jniinc/ (the layout of the archive the
#              GPU set-up notes ship), or
#            - a DJL source checkout at tag v0.36.0 (the header is then generated with javac -h).
#            Default: $DJL_JNI_SRC.
# Environment: CXX (default g++), JOBS (default: the number of cores), OUT (default: TORCH_DIR's lib folder, or
# the folder above for Debian's layout; set it when that folder is not writable, then copy the files there).
#
# The bf16 patch: DJL 0.36.0 passes DataType.ordinal() to the JNI, and djl_pytorch_utils.h maps 0..8 only; BFLOAT16
# (11) reaches a bare `throw;`, which aborts the JVM. The script adds `case 11: return torch::kBFloat16;` to
# GetScalarTypeFromDType and `kBFloat16 -> 11` to GetDTypeFromScalarType, and stops if the lines it patches are not
# found (other DJL sources). The project allows --dtype bf16 only with a JNI whose record says bf16_patch=yes and
# whose SHA-256 matches the loaded library (dev.tenstep.pipeline.Bf16Support).
#
# C++: libtorch 1.13 needs -DV1_13_X (DJL's switch for its older interpolate API) and C++17; 2.x up to 2.13
# C++17; from 2.14 ATen refuses anything below C++20. Needs g++ and a JDK (for jni.h, unless the archive has
# it). About 45 s on 16 cores, 1-2 minutes on 2.
set -euo pipefail
die() { echo "build-djl-jni: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: scripts/build-djl-jni.sh TORCH_DIR [SOURCES] (see docs/gpu.md)"
torch=$(cd "$1" && pwd) || die "no such folder: $1"
src=${2:-${DJL_JNI_SRC:-}}
[ -n "$src" ] || die "no DJL JNI sources: pass the sources archive or a DJL v0.36.0 checkout as the second argument"

# 0. the layout: a pip torch / libtorch zip (include/, lib/) or Debian's (include/, lib/<arch>-linux-gnu/)
layout=bundle
inc="$torch/include"
libdir="$torch/lib"
if ! ls "$libdir"/libtorch.so* >/dev/null 2>&1; then
  arch=$( (gcc -dumpmachine 2>/dev/null || echo "$(uname -m)-linux-gnu") | sed 's/-pc-/-/')
  if ls "$torch/lib/$arch"/libtorch.so* >/dev/null 2>&1; then
    layout=debian; libdir="$torch/lib/$arch"
  else
    die "$torch has no lib/libtorch.so (pip torch, libtorch zip) nor lib/$arch/libtorch.so (Debian's libtorch-dev under /usr)"
  fi
fi
[ -d "$inc/torch" ] || die "$inc/torch is missing: TORCH_DIR must hold the libtorch C++ headers (a pip torch, a libtorch zip or Debian's libtorch-dev; DJL's own extracted natives have no headers)"
# torch/version.h up to 2.13; from 2.14 it includes torch/headeronly/version.h, which has the numbers
vh="$inc/torch/headeronly/version.h"
[ -f "$vh" ] || vh="$inc/torch/csrc/api/include/torch/version.h"
[ -f "$vh" ] || die "no $vh: cannot tell the libtorch version"
ver_part() { sed -n "s/^#define TORCH_VERSION_$1 \([0-9]*\).*/\1/p" "$vh" | head -n 1; }
major=$(ver_part MAJOR); minor=$(ver_part MINOR); patch=$(ver_part PATCH)
[ -n "$major" ] && [ -n "$minor" ] || die "cannot read TORCH_VERSION_MAJOR/MINOR from $vh"
version="$major.$minor.${patch:-0}"
package=""
if [ "$layout" = debian ] && command -v dpkg-query >/dev/null; then
  pkg=$(dpkg-query -S "$vh" 2>/dev/null | cut -d: -f1 | head -n 1 || true)
  [ -n "$pkg" ] && package="$pkg $(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)"
fi
defines=()
std=c++17
if [ "$major" -lt 2 ]; then
  [ "$major" -eq 1 ] && [ "$minor" -ge 13 ] || die "libtorch $version is older than 1.13, which DJL 0.36.0's sources do not support"
  defines=(-DV1_13_X)
elif [ "$major" -gt 2 ] || [ "$minor" -ge 14 ]; then
  std=c++20
fi

CXX=${CXX:-g++}
command -v "$CXX" >/dev/null || die "$CXX not found: install g++"
JOBS=${JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
if [ "$layout" = debian ]; then
  OUT=${OUT:-$HOME/.tenstep/libtorch-$version/lib}
else
  OUT=${OUT:-$libdir}
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# 1. the sources: native .cc files, the generated JNI header, djl/utils.h, jni.h
if [ -f "$src" ]; then
  tar xf "$src" -C "$work" || die "cannot unpack $src (for .tar.xz: install xz-utils)"
  native=$(dirname "$(find "$work" -name 'ai_djl_pytorch_jni_PyTorchLibrary.h' | head -n 1)")
  [ -n "$native" ] && [ -f "$native/djl/utils.h" ] || die "$src does not hold djl/native/ai_djl_pytorch_jni_PyTorchLibrary.h and djl/utils.h"
  jniinc=$(dirname "$(find "$work" -name jni.h | head -n 1)")
elif [ -d "$src/engines/pytorch/pytorch-native/src/main/native" ]; then
  native="$work/native"; mkdir -p "$native/djl"
  cp "$src"/engines/pytorch/pytorch-native/src/main/native/* "$native/"
  cp "$(find "$src/api" -path '*native/djl/utils.h' | head -n 1)" "$native/djl/utils.h" || die "no api/.../djl/utils.h in $src"
  # the header javac generates from PyTorchLibrary's native methods, compiled against DJL's jars in ~/.m2
  m2=${M2_REPO:-$HOME/.m2/repository}
  cp_jars="$m2/ai/djl/api/0.36.0/api-0.36.0.jar:$m2/ai/djl/pytorch/pytorch-engine/0.36.0/pytorch-engine-0.36.0.jar"
  javac -h "$native" -d "$work/classes" -cp "$cp_jars" \
    "$src/engines/pytorch/pytorch-engine/src/main/java/ai/djl/pytorch/jni/PyTorchLibrary.java" \
    || die "javac -h failed (needs DJL 0.36.0's api and pytorch-engine jars in $m2: run the project's mvn build once)"
  jniinc=""
else
  die "$src is neither a sources archive nor a DJL checkout (engines/pytorch/pytorch-native/src/main/native is missing)"
fi
if [ -z "${jniinc:-}" ] || [ ! -f "$jniinc/jni.h" ]; then
  java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
  jniinc="$java_home/include"
  [ -f "$jniinc/jni.h" ] || die "no jni.h: install a JDK (javac) or set JAVA_HOME"
fi

# 2. the bf16 patch: one new case in each direction of djl_pytorch_utils.h's DataType <-> ScalarType mapping.
# Each anchor must occur exactly once; afterwards both mappings must be there, or the build stops.
utils="$native/djl_pytorch_utils.h"
[ -f "$utils" ] || die "no djl_pytorch_utils.h in the sources: not DJL 0.36.0's JNI"
if grep -q 'kBFloat16' "$utils"; then
  die "$utils already mentions kBFloat16: these are not DJL 0.36.0's sources (the patch expects them unpatched)"
fi
to_torch='      return torch::kComplexFloat;'   # the last case of GetScalarTypeFromDType (8: COMPLEX64)
to_djl='  } else if (torch::kComplexFloat == type) {'   # the last branch of GetDTypeFromScalarType, then "return 8;"
[ "$(grep -cxF -- "$to_torch" "$utils")" = 1 ] || die "bf16 patch: the line '$to_torch' (GetScalarTypeFromDType's case 8) is not found exactly once in $utils"
[ "$(grep -cxF -- "$to_djl" "$utils")" = 1 ] || die "bf16 patch: the line '$to_djl' (GetDTypeFromScalarType) is not found exactly once in $utils"
[ "$(grep -cxF -- '    return 8;' "$utils")" = 1 ] || die "bf16 patch: the line '    return 8;' (GetDTypeFromScalarType) is not found exactly once in $utils"
sed -i -e "/^      return torch::kComplexFloat;\$/a\\
    case 11:  // DataType.BFLOAT16 (tenstep's bf16 patch)\\
      return torch::kBFloat16;" \
  -e "/^    return 8;\$/a\\
  } else if (torch::kBFloat16 == type) {  // tenstep's bf16 patch\\
    return 11;" "$utils"
grep -qxF '      return torch::kBFloat16;' "$utils" && grep -qxF '    return 11;' "$utils" \
  || die "bf16 patch: the patched $utils lacks one of the two mappings"
echo "build-djl-jni: bf16 patch applied to djl_pytorch_utils.h (DataType 11 <-> torch::kBFloat16)" >&2

# 3. the C++ ABI of the torch build (pip wheels since 2.7, the cxx11 libtorch zips and Debian use the new ABI)
abi=1
if command -v python3 >/dev/null && [ -f "$torch/__init__.py" ]; then
  abi=$(cd / && python3 -c "import torch;print(int(torch._C._GLIBCXX_USE_CXX11_ABI))" 2>/dev/null || echo 1)
fi
# No -DUSE_CUDA: that only adds the separate-CUDA-stream option of TorchScript inference (unused here) and
# needs the CUDA toolkit's headers; the JNI built this way runs CUDA tensors (measured on an H200, torch 2.11).

# 4. compile each .cc in parallel, then link against libtorch
flags=(-O2 -std="$std" -fPIC -D_GLIBCXX_USE_CXX11_ABI="$abi" ${defines[@]+"${defines[@]}"} -I"$inc"
       -I"$inc/torch/csrc/api/include" -I"$jniinc" -I"$jniinc/linux" -I"$native")
echo "build-djl-jni: compiling $(ls "$native"/*.cc | wc -l) files against libtorch $version in $torch ($layout layout," \
     "-std=$std${defines[*]:+ ${defines[*]}}, C++11 ABI $abi) with $JOBS jobs" >&2
ls "$native"/*.cc | xargs -P "$JOBS" -I{} sh -c '"$0" "$@" -c {} -o "'"$work"'/$(basename {} .cc).o"' "$CXX" "${flags[@]}"
[ "$(ls "$work"/*.o | wc -l)" = "$(ls "$native"/*.cc | wc -l)" ] || die "compilation failed (see the messages above)"
"$CXX" -shared -o "$work/libdjl_torch.so" "$work"/*.o -L"$libdir" -ltorch -ltorch_cpu -lc10 -Wl,-rpath,'$ORIGIN'
mkdir -p "$OUT"
cp "$work/libdjl_torch.so" "$OUT/0.36.0-libdjl_torch.so"
if [ "$layout" = debian ]; then
  # DJL loads every library of the folder it is given: only libtorch's own, linked from the system folder
  for l in libc10.so libtorch_cpu.so libtorch.so; do ln -sfn "$libdir/$l" "$OUT/$l"; done
  echo "$version" > "$OUT/../build-version"
fi

# 5. the record, read by tenstep at run time (dev.tenstep.pipeline.Bf16Support) to allow --dtype bf16
sha=$(sha256sum "$OUT/0.36.0-libdjl_torch.so" | cut -d' ' -f1)
{
  echo "# written by tenstep's scripts/build-djl-jni.sh; tenstep allows bf16 only when library_sha256 matches the loaded JNI"
  echo "djl_version=0.36.0"
  echo "library=0.36.0-libdjl_torch.so"
  echo "library_sha256=$sha"
  echo "bf16_patch=yes"
  echo "libtorch_version=$version"
  echo "libtorch_dir=$torch"
  echo "libtorch_layout=$layout"
  [ -n "$package" ] && echo "libtorch_package=$package"
  echo "cxx_std=$std"
  echo "defines=${defines[*]:-}"
  echo "cxx11_abi=$abi"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$OUT/tenstep-djl-jni.properties"
echo "build-djl-jni: wrote $OUT/0.36.0-libdjl_torch.so and $OUT/tenstep-djl-jni.properties (libtorch $version, bf16 patch)" >&2
if [ "$layout" = debian ]; then
  echo "build-djl-jni: run with ./tenstep --torch-home $(cd "$OUT/.." && pwd) ... (or PYTORCH_LIBRARY_PATH=$OUT PYTORCH_VERSION=$version)" >&2
fi
