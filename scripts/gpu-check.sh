#!/usr/bin/env bash
# A prepared check for an air-gapped GPU machine (no network, no Node.js, at most 64 MiB from us).
#   scripts/gpu-check.sh pack   here: writes .gpu-check/ (under 60 MiB): this script, and one
#                               compressed archive with a Node 20 binary, the decode bench bundled into
#                               one file, onnxruntime-node pruned to linux-x64, and Debian's Vulkan
#                               loader (libvulkan1).
#   .gpu-check/gpu-check.sh run there (or scripts/gpu-check.sh run here): unpacks under /tmp, builds the
#                               Janus-Pro-1B-shaped q4f16 gqa fixture, runs the decode bench on webgpu
#                               and on cpu, prints the adapter, per-step times, tokens/s, bytes across the
#                               host per step and the ratio. One line naming what is missing on failure.
# GPU_CHECK_PRESET (janus-pro-1b | 1b-layers | tiny) and GPU_CHECK_STEPS change the size of the run.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
mode="${1:-}"
ARCHIVE=gpu-check.tar.xz

fail() { echo "gpu-check: FAILED: $*" >&2; exit 1; }

pack() {
  local root out node_bin ort
  root="$(cd "$here/.." && pwd)"
  out="$root/.gpu-check"
  stage="$(mktemp -d /tmp/gpu-check-stage-XXXXXX)"
  trap 'rm -rf "$stage"' EXIT
  node_bin="$(readlink -f "$(command -v node)")" || fail "node not found (pack runs on the development machine)"
  case "$("$node_bin" --version)" in v20.*) ;; *) fail "pack needs Node 20 (found $("$node_bin" --version))" ;; esac
  [ "$(uname -m)" = x86_64 ] || fail "pack builds the linux-x64 check only"
  ort="$root/node_modules/onnxruntime-node"
  [ -f "$ort/bin/napi-v6/linux/x64/libonnxruntime.so.1" ] || fail "node_modules/onnxruntime-node is not installed (npm ci first)"

  cp "$node_bin" "$stage/node"
  # The bench and everything it imports but ONNX Runtime, in one ES module.
  "$root/node_modules/.bin/esbuild" "$root/scripts/bench-device.ts" --bundle --platform=node --format=esm --target=node20 \
    --external:onnxruntime-node --outfile="$stage/check.mjs" --log-level=warning \
    --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
  # onnxruntime-node pruned to what Node needs on linux-x64 (no CUDA, no other platforms).
  mkdir -p "$stage/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
  cp -r "$ort/package.json" "$ort/dist" "$stage/node_modules/onnxruntime-node/"
  cp "$ort/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$ort/bin/napi-v6/linux/x64/onnxruntime_binding.node" \
    "$stage/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/"
  local common
  common="$ort/node_modules/onnxruntime-common"
  [ -d "$common" ] || common="$root/node_modules/onnxruntime-common"
  mkdir -p "$stage/node_modules/onnxruntime-common"
  cp -r "$common/package.json" "$common/dist" "$stage/node_modules/onnxruntime-common/"
  rm -rf "$stage/node_modules/onnxruntime-common/dist/esm" 2>/dev/null || true
  # The Vulkan loader from Debian (the GPU box brings its driver's ICD, not necessarily the loader).
  mkdir -p "$stage/lib" "$stage/deb"
  if (cd "$stage/deb" && apt-get download -qq libvulkan1 >/dev/null 2>&1); then
    dpkg-deb -x "$stage"/deb/libvulkan1_*.deb "$stage/deb/x"
    cp -L "$stage"/deb/x/usr/lib/x86_64-linux-gnu/libvulkan.so.1 "$stage/lib/"
  elif [ -e /usr/lib/x86_64-linux-gnu/libvulkan.so.1 ]; then
    cp -L /usr/lib/x86_64-linux-gnu/libvulkan.so.1 "$stage/lib/"
  else
    fail "libvulkan1 could not be fetched with apt-get download nor found installed"
  fi
  rm -rf "$stage/deb"
  rm -rf "$out"
  mkdir -p "$out"
  tar -C "$stage" -cf - . | xz -9 -T0 > "$out/$ARCHIVE"
  cp "$here/gpu-check.sh" "$out/gpu-check.sh"
  chmod +x "$out/gpu-check.sh"
  local bytes
  bytes="$(du -cb "$out" | tail -1 | cut -f1)"
  [ "$bytes" -lt $((60 * 1024 * 1024)) ] || fail ".gpu-check/ is $((bytes / 1024 / 1024)) MiB, over the 60 MiB budget"
  echo "gpu-check: packed .gpu-check/ ($((bytes / 1024)) KiB): copy the folder to the GPU machine and run .gpu-check/gpu-check.sh run"
}

icd_present() {
  local d f
  if [ -n "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]; then return 0; fi
  for d in /etc/vulkan/icd.d /usr/share/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
    for f in "$d"/*.json; do [ -e "$f" ] && return 0; done
  done
  return 1
}

run() {
  local archive preset steps started
  started=$(date +%s)
  if [ -f "$here/$ARCHIVE" ]; then archive="$here/$ARCHIVE"
  elif [ -f "$here/../.gpu-check/$ARCHIVE" ]; then archive="$here/../.gpu-check/$ARCHIVE"
  else fail "no $ARCHIVE next to this script (run 'scripts/gpu-check.sh pack' on the development machine)"; fi
  [ "$(uname -m)" = x86_64 ] || fail "this check is built for linux x86_64, this machine is $(uname -m)"
  command -v xz >/dev/null 2>&1 || fail "xz is not installed (needed to unpack the check)"
  icd_present || fail "no Vulkan ICD found in /etc/vulkan/icd.d, /usr/share/vulkan/icd.d or /usr/local/share/vulkan/icd.d (NVIDIA: the driver's nvidia_icd.json; in Docker set NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics)"
  dir="$(mktemp -d /tmp/xcot-gpu-check-XXXXXX)"
  trap 'rm -rf "$dir"' EXIT
  xz -dc "$archive" | tar -C "$dir" -xf - || fail "the archive did not unpack (copy it again)"
  "$dir/node" --version >/dev/null 2>&1 || fail "the packed Node binary does not run here (glibc too old?)"
  preset="${GPU_CHECK_PRESET:-janus-pro-1b}"
  steps="${GPU_CHECK_STEPS:-32}"
  if [ -e /dev/nvidia0 ] && command -v nvidia-smi >/dev/null 2>&1; then
    echo "gpu-check: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
  fi
  echo "gpu-check: building the $preset gqa fixture (q4f16 language model) and running $steps decode steps on webgpu, then cpu"
  local rc=0
  # The bundled bench and its own ONNX Runtime; the Vulkan loader from the archive unless the host has one.
  (cd "$dir" && LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$dir/lib" XCOT_GRAPH_CACHE="$dir/graphs" MESA_SHADER_CACHE_DIR="$dir/mesa" \
    timeout 470 "$dir/node" "$dir/check.mjs" --device webgpu,cpu --require webgpu --preset "$preset" --steps "$steps" --count 2 \
    --dtype language_model=q4f16 --json "$dir/result.json" >"$dir/out.json" 2>"$dir/log.txt") || rc=$?
  grep -v -e '^Warning: maxDynamic' "$dir/log.txt" | grep -E 'ms/step|fixture|fell back' || true
  if [ "$rc" = 124 ]; then fail "the bench did not finish within 8 minutes ($(tail -1 "$dir/log.txt"))"; fi
  if [ "$rc" != 0 ]; then fail "$(grep -E '^bench: ' "$dir/log.txt" | tail -1 | sed 's/^bench: //' || tail -1 "$dir/log.txt")"; fi
  "$dir/node" -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const g = r.figures.find((f) => f.device === "webgpu"), c = r.figures.find((f) => f.device === "cpu");
    console.log(`gpu-check: adapter ${g.adapter} (driver ${g.driver})`);
    for (const f of r.figures) console.log(`gpu-check: ${f.device}: ${f.perStepMs} ms/step at ${f.rows} rows, ${f.imageTokensPerSec} image tokens/s, ${f.hostBytesPerStep} bytes across the host per step (KV ${f.kv})`);
    console.log(`gpu-check: cpu/webgpu step time ratio ${r.cpuOverWebgpuStepTime}`);
  ' "$dir/result.json"
  echo "gpu-check: OK in $(( $(date +%s) - started )) s"
}

case "$mode" in
  pack) pack ;;
  run) run ;;
  *) echo "usage: $0 pack|run" >&2; exit 2 ;;
esac
