#!/usr/bin/env bash
# The TensorRT GPU check, in one go, for a machine with an NVIDIA GPU, TensorRT 10 or 11 and
# LibTorch (make setup): it builds the tagged packages, runs every TensorRT test (build, load,
# FP32 and FP16 results against the numpy golden and the LibTorch backend, concurrent contexts,
# a batch outside the profile, timing cache, engine header checks) and builds an engine with
# bin/build-engine. Run it from the repository root:
#
#   TENSORRT_ROOT=/opt/TensorRT-10.16.0.32 [CUDA_ROOT=/usr/local/cuda] scripts/trt-gpu-check.sh
#   make trt-gpu-check TENSORRT_ROOT=...            # the same
#
# TENSORRT_ROOT is NVIDIA's tar package unpacked, or /usr for the deb packages. Without a GPU
# it says so and exits 0 (nothing to check here); with a GPU but no usable TensorRT it fails
# with the fix. The exit status is that of the first failing step.
set -euo pipefail

cd "$(dirname "$0")/.."
GO=${GO:-go}
CUDA_ROOT=${CUDA_ROOT:-/usr/local/cuda}
TIMEOUT=${TIMEOUT:-30m}
log() { printf '\n== trt-gpu-check: %s\n' "$*"; }

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
	echo "trt-gpu-check: SKIPPED: no NVIDIA GPU here (nvidia-smi finds none); run this on a machine with one"
	exit 0
fi
log "GPU"
nvidia-smi --query-gpu=index,name,compute_cap,driver_version,memory.total --format=csv

if [ -z "${TENSORRT_ROOT:-}" ]; then
	for d in /usr /opt/tensorrt /usr/local/tensorrt /opt/TensorRT*; do
		if [ -f "$d/include/NvInfer.h" ] || [ -f "$d/include/x86_64-linux-gnu/NvInfer.h" ]; then TENSORRT_ROOT=$d; break; fi
	done
fi
if [ -z "${TENSORRT_ROOT:-}" ]; then
	echo "trt-gpu-check: error: no TensorRT found: set TENSORRT_ROOT to NVIDIA's tar package unpacked"
	echo "  (https://developer.nvidia.com/tensorrt), or install the deb packages (libnvinfer-dev,"
	echo "  libnvonnxparsers-dev) and use TENSORRT_ROOT=/usr"
	exit 1
fi

# trt.mk computes the flags; the Makefile includes it once the lead has wired it in.
MAKE_FILES=(-f Makefile)
grep -q '^include trt.mk' Makefile || MAKE_FILES+=(-f trt.mk)
mk() { make -s "${MAKE_FILES[@]}" "$@" TENSORRT_ROOT="$TENSORRT_ROOT" CUDA_ROOT="$CUDA_ROOT" ${LIBTORCH:+LIBTORCH="$LIBTORCH"}; }

log "environment"
mk libtorch
env_lines=$(mk trt-env)
eval "$env_lines"
echo "$env_lines"

log "vet (tensorrt tag)"
"$GO" vet -tags tensorrt ./trt/ ./cmd/build-engine/ ./csad/ ./cmd/csad/

log "tests (tensorrt tag): every trt and build-engine test, GPU ones included"
status=0
"$GO" test -tags tensorrt -count=1 -timeout "$TIMEOUT" -v ./trt/ ./cmd/build-engine/ 2>&1 | tee /tmp/trt-gpu-check.log || status=$?

log "the csad tensorrt backend against the torch backend"
"$GO" test -tags tensorrt -count=1 -timeout "$TIMEOUT" -v -run 'TensorRT' ./csad/ 2>&1 | tee -a /tmp/trt-gpu-check.log || status=$?

log "concurrent contexts under the race detector"
"$GO" test -tags tensorrt -race -count=1 -timeout "$TIMEOUT" -run 'GPUConcurrent|GPUClose' ./trt/ || status=$?

log "bin/build-engine on the tiny fixture"
mkdir -p bin
"$GO" build -tags tensorrt -o bin/ ./cmd/build-engine/
out=$(mktemp -d)
./bin/build-engine -in testdata/trt/tiny.onnx -out "$out/tiny.engine" -max-batch 8 -timing-cache "$out/timing.cache" || status=$?
rm -rf "$out"

log "summary"
grep -E '^(--- (PASS|FAIL|SKIP)|ok|FAIL|PASS)' /tmp/trt-gpu-check.log | sort | uniq -c | sort -rn | head -60 || true
if grep -q -- '--- SKIP' /tmp/trt-gpu-check.log; then
	echo "skipped (with their reasons):"
	grep -A2 -- '--- SKIP' /tmp/trt-gpu-check.log | grep -v -- '^--$' || true
fi
if [ "$status" -ne 0 ]; then
	echo "trt-gpu-check: FAILED (status $status); full log: /tmp/trt-gpu-check.log"
	exit "$status"
fi
echo "trt-gpu-check: passed"
