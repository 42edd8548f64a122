#!/usr/bin/env bash
# Builds DJL 0.36.0's PyTorch JNI (libdjl_torch) against an installed libtorch whose version is not DJL's own
# (2.7.1), and puts it where DJL looks: <libtorch lib folder>/0.36.0-libdjl_torch.so. See docs/gpu.md.
#
#   scripts/build-djl-jni.sh TORCH_DIR [SOURCES]
#
# TORCH_DIR  a pip PyTorch package folder (python3 -c "import torch,os;print(os.path.dirname(torch.__file__))")
#            or an unzipped libtorch: it needs include/ (the C++ headers) and lib/ (libtorch.so, libc10.so).
# SOURCES    DJL's JNI sources at tag v0.36.0, either
#            - a .tar.xz/.tar.gz holding djl/native/*.cc, djl/native/ai_djl_pytorch_jni_PyTorchLibrary.h,
#              djl/native/djl/utils.h and Java's JNI headers under jniinc/ (the layout of the archive the
#              GPU set-up notes ship), or
#            - a DJL source checkout at tag v0.36.0 (the header is then generated with javac -h).
#            Default: $DJL_JNI_SRC.
# Environment: CXX (default g++), JOBS (default: the number of cores), OUT (default: TORCH_DIR's lib folder;
# set it when that folder is not writable, then copy the file there yourself).
# Needs g++ with C++17 and a JDK (for jni.h, unless the archive has it). About 45 s on 16 cores.
set -euo pipefail
die() { echo "build-djl-jni: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: scripts/build-djl-jni.sh TORCH_DIR [SOURCES] (see docs/gpu.md)"
torch=$(cd "$1" && pwd) || die "no such folder: $1"
src=${2:-${DJL_JNI_SRC:-}}
[ -n "$src" ] || die "no DJL JNI sources: pass the sources archive or a DJL v0.36.0 checkout as the second argument"
[ -d "$torch/include/torch" ] || die "$torch/include/torch is missing: TORCH_DIR must hold the libtorch C++ headers (a pip torch or a libtorch zip; DJL's own extracted natives have no headers)"
ls "$torch"/lib/libtorch.* >/dev/null 2>&1 || die "$torch/lib has no libtorch"
CXX=${CXX:-g++}
command -v "$CXX" >/dev/null || die "$CXX not found: install g++"
JOBS=${JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
OUT=${OUT:-$torch/lib}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# 1. the sources: native .cc files, the generated JNI header, djl/utils.h, jni.h
if [ -f "$src" ]; then
  tar xf "$src" -C "$work"
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

# 2. the C++ ABI of the torch build (pip wheels since 2.7 and the cxx11 libtorch zips use the new ABI)
abi=1
if command -v python3 >/dev/null && [ -f "$torch/__init__.py" ]; then
  abi=$(cd / && python3 -c "import torch;print(int(torch._C._GLIBCXX_USE_CXX11_ABI))" 2>/dev/null || echo 1)
fi
# No -DUSE_CUDA: that only adds the separate-CUDA-stream option of TorchScript inference (unused here) and
# needs the CUDA toolkit's headers; the JNI built this way runs CUDA tensors (measured on an H200, torch 2.11).

# 3. compile each .cc in parallel, then link against libtorch
flags=(-O2 -std=c++17 -fPIC -D_GLIBCXX_USE_CXX11_ABI="$abi" -I"$torch/include"
       -I"$torch/include/torch/csrc/api/include" -I"$jniinc" -I"$jniinc/linux" -I"$native")
echo "build-djl-jni: compiling $(ls "$native"/*.cc | wc -l) files against $torch (C++11 ABI $abi) with $JOBS jobs" >&2
ls "$native"/*.cc | xargs -P "$JOBS" -I{} sh -c '"$0" "$@" -c {} -o "'"$work"'/$(basename {} .cc).o"' "$CXX" "${flags[@]}"
"$CXX" -shared -o "$work/libdjl_torch.so" "$work"/*.o -L"$torch/lib" -ltorch -ltorch_cpu -lc10 -Wl,-rpath,'$ORIGIN'
mkdir -p "$OUT"
cp "$work/libdjl_torch.so" "$OUT/0.36.0-libdjl_torch.so"
echo "build-djl-jni: wrote $OUT/0.36.0-libdjl_torch.so" >&2
