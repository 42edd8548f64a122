#!/usr/bin/env bash
# One check of the GPU path on a machine with an NVIDIA GPU but no Java and no network (docs/gpu.md):
#
#   scripts/gpu-check.sh prepare KIT_SCRIPT   here, with Java and Maven: builds target/tenstep.jar, runs
#                                             KIT_SCRIPT (make-device-kit.sh of the GPU set-up notes) to write
#                                             .device-kit/, and copies into .gpu-data/ (ignored by git) what the
#                                             run needs: the two tiny fixture pipelines with their pipeline_ddim
#                                             reference, and the SD 1.5 config folder (FIXTURES, CONFIGS: where
#                                             they are, default src/test/shared/fixtures and src/test/shared/configs).
#   scripts/gpu-check.sh run                  on the GPU machine, from the project root, with .device-kit/ and
#                                             .gpu-data/ carried over: every check, logs under $OUT (default
#                                             ./gpu-check-out), a summary in $OUT/summary.txt.
#
# The run: nvidia-smi; fixture parity on CUDA in fp32 (the fixtures' tolerance) and fp16 (100x); bench on the SD 1.5
# config with random weights, 512 px, CFG 7.5, N = 10, warm-up 1, 3 measured runs, in fp32 and fp16 (ms per step
# with the GPU synchronised at each measurement, VAE ms, s per image, sampled peak GPU memory, host RSS); bf16 (must
# be one refusal line, exit 2, not an abort, with the kit's DJL JNI); --device cuda:7 (must be one line, exit 2);
# then the JNI rebuilt with the bf16 patch (scripts/build-djl-jni.sh): parity and bench in bf16 on CUDA, the host
# CPU's bench in fp32 and bf16 (2 steps); one web request
# (serve on CUDA, GET /api/info, POST /sdapi/v1/txt2img) with the model kept resident for a second request.
set -uo pipefail
cd "$(dirname "$0")/.."
data=.gpu-data

if [ "${1:-}" = prepare ]; then
  set -e
  kit_script=${2:?usage: scripts/gpu-check.sh prepare PATH/TO/make-device-kit.sh}
  fixtures=${FIXTURES:-src/test/shared/fixtures}; configs=${CONFIGS:-src/test/shared/configs}
  mvn -q -B -o -DskipTests package
  bash "$kit_script" target/tenstep.jar
  grep -qx "/$data/" .git/info/exclude 2>/dev/null || echo "/$data/" >>.git/info/exclude
  rm -rf "$data" && mkdir -p "$data"
  for f in tiny-sd15 tiny-sd21; do
    mkdir -p "$data/$f/reference"
    (cd "$fixtures/$f" && tar cf - --exclude=reference .) | tar xf - -C "$data/$f"
    cp "$fixtures/$f/reference/cases.json" "$fixtures/$f/reference/pipeline_ddim.safetensors" "$data/$f/reference/"
  done
  cp -r "$configs/stable-diffusion-v1-5" "$data/"
  du -sh .device-kit "$data"
  echo "carry: .device-kit $data   then on the GPU machine: bash scripts/gpu-check.sh run"
  exit 0
fi
[ "${1:-}" = run ] || { echo "usage: scripts/gpu-check.sh prepare KIT_SCRIPT | run" >&2; exit 2; }
[ -d .device-kit ] && [ -d "$data" ] || { echo "gpu-check: .device-kit/ or $data/ missing: run 'scripts/gpu-check.sh prepare' first" >&2; exit 2; }

OUT=${OUT:-$PWD/gpu-check-out}; mkdir -p "$OUT"
summary="$OUT/summary.txt"; : >"$summary"
KIT_ENV_ONLY=1 source .device-kit/device-run.sh || { echo "gpu-check: device-run.sh failed" | tee -a "$summary"; exit 1; }
main=$(sed -n 's/^Main-Class: *//p' "$APP_CP/META-INF/MANIFEST.MF" | tr -d '\r')
cli() { "$JAVA" -Dai.djl.offline=true -cp "$APP_CP" "$main" "$@"; }
note() { echo "$*" | tee -a "$summary"; }
step() {  # step NAME TIMEOUT_S ARGS...: runs the CLI, log in $OUT/NAME.log, exit status in the summary
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$JAVA" -Dai.djl.offline=true -cp "$APP_CP" "$main" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  note "$name: exit $rc in $((SECONDS - t0)) s"
  return $rc
}

{ nvidia-smi; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; } >"$OUT/nvidia-smi.txt" 2>&1
note "torch: $PYTORCH_VERSION $PYTORCH_FLAVOR at $PYTORCH_LIBRARY_PATH"

step parity-fp32 240 check-device --device cuda --dtype fp32 --fixture "$data/tiny-sd15" "$data/tiny-sd21"
step parity-fp16 240 check-device --device cuda --dtype fp16 --fixture "$data/tiny-sd15" "$data/tiny-sd21"
grep -h "max |err|" "$OUT"/parity-*.log >>"$summary" 2>/dev/null

sd=$data/stable-diffusion-v1-5
for dt in fp16 fp32; do
  step "bench-$dt" 300 bench --model "$sd" --random-weights --steps 10 --warmup 1 --repeat 3 --cfg-scale 7.5 \
    --device cuda --dtype "$dt" --json
  tail -n 1 "$OUT/bench-$dt.log" >"$OUT/bench-$dt.json"
  python3 - "$OUT/bench-$dt.json" <<'PY' >>"$summary" 2>&1
import json, sys
r = json.load(open(sys.argv[1]))
keys = ["device", "dtype", "vae_dtype", "width", "unet_step_ms_median", "unet_step_ms_min", "vae_decode_ms",
        "text_encoder_ms", "pipeline_s", "load_ms", "peak_rss_mb", "gpu_memory_used_after_load_mb",
        "gpu_memory_used_peak_sampled_mb"]
print("  " + ", ".join(f"{k} {r.get(k)}" for k in keys))
PY
done

step bf16-refused 120 bench --model "$sd" --random-weights --steps 1 --device cuda --dtype bf16
grep -q "bf16 is refused" "$OUT/bf16-refused.log" && note "  bf16: refused with the reason (expected)" || note "  bf16: UNEXPECTED, see bf16-refused.log"
step no-such-gpu 120 bench --model "$sd" --random-weights --steps 1 --device cuda:7
head -n 3 "$OUT/no-such-gpu.log" >>"$summary"

# bf16 (issue 22): the JNI rebuilt from the kit's sources with the bf16 patch against this machine's torch, put
# beside torch's libraries with its record (what Bf16Support checks), then parity and bench in bf16 on CUDA, and
# the host CPU in fp32 and bf16. The web request below runs on the patched JNI too (same code otherwise).
t0=$SECONDS
OUT="$OUT/jni" JOBS=$(nproc) bash scripts/build-djl-jni.sh "$TORCH" .device-kit/djl-0.36.0-jni-src.tar.xz \
  >"$OUT/jni-build.log" 2>&1
rc=$?; note "jni-build (bf16 patch): exit $rc in $((SECONDS - t0)) s"
if [ $rc -eq 0 ] && cp "$OUT/jni/0.36.0-libdjl_torch.so" "$OUT/jni/tenstep-djl-jni.properties" "$TL/"; then
  step parity-bf16 240 check-device --device cuda --dtype bf16 --fixture "$data/tiny-sd15" "$data/tiny-sd21"
  grep -h "max |err|" "$OUT/parity-bf16.log" >>"$summary" 2>/dev/null
  step bench-bf16 300 bench --model "$sd" --random-weights --steps 10 --warmup 1 --repeat 3 --cfg-scale 7.5 \
    --device cuda --dtype bf16 --vae-dtype bf16 --json
  tail -n 1 "$OUT/bench-bf16.log" >>"$summary"
  grep -o 'amx_bf16\|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ' | sed 's/^/  host CPU bf16 flags: /' >>"$summary"
  echo >>"$summary"; grep -m1 'model name' /proc/cpuinfo >>"$summary"
  for dt in fp32 bf16; do
    step "bench-cpu-$dt" 300 bench --model "$sd" --random-weights --steps 2 --cfg-scale 7.5 --device cpu --dtype "$dt" \
      --vae-dtype "$dt" --json
    tail -n 1 "$OUT/bench-cpu-$dt.log" >>"$summary"
  done
else
  note "  bf16 skipped: the patched JNI did not build or could not be copied to $TL (see jni-build.log)"
fi

# one web request on CUDA (fp16 default), twice to see the model stay resident
port=7899
"$JAVA" -Dai.djl.offline=true -cp "$APP_CP" "$main" serve --model "$data/tiny-sd15" --device cuda --port "$port" \
  --outputs "$OUT/web-outputs" >"$OUT/serve.log" 2>&1 &
server=$!
python3 - "$port" <<'PY' >"$OUT/web.log" 2>&1
import json, sys, time, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
for _ in range(240):
    try:
        info = json.load(urllib.request.urlopen(base + "/api/info", timeout=2)); break
    except Exception:
        time.sleep(0.5)
else:
    sys.exit("server did not start")
print("info", json.dumps({k: info.get(k) for k in ("model", "device", "dtype", "vae_dtype")}))
body = json.dumps({"prompt": "a photo of an astronaut riding a horse on mars", "steps": 10, "seed": 42,
                   "width": 64, "height": 64}).encode()
for i in range(2):
    t0 = time.time()
    req = urllib.request.Request(base + "/sdapi/v1/txt2img", data=body, headers={"Content-Type": "application/json"})
    r = json.load(urllib.request.urlopen(req, timeout=120))
    print(f"request {i + 1}: {len(r['images'])} image(s), {time.time() - t0:.3f} s; infotext: {json.loads(r['info'])['infotexts'][0]!r}")
PY
note "web: exit $?"; cat "$OUT/web.log" >>"$summary"
kill "$server" 2>/dev/null; wait "$server" 2>/dev/null
cat "$summary"
