# TensorRT targets (docs/tensorrt.md), included by the Makefile.
#
#   make trt-check TENSORRT_INCLUDE=/path/to/TensorRT/include [CUDA_INCLUDE=...]
#       compiles the shim (csrc/trt.cpp) and the tagged Go packages against those headers, without
#       linking: it needs neither a GPU nor TensorRT's libraries. Without CUDA_INCLUDE (or a CUDA
#       toolkit at CUDA_ROOT) it uses testdata/trt/cuda_decl, a declaration-only stand-in for
#       cuda_runtime_api.h that is good for compiling and nothing else.
#   make trt-build TENSORRT_ROOT=/path/to/TensorRT [CUDA_ROOT=/usr/local/cuda]
#       bin/build-engine and bin/csad with the tensorrt tag, linked against TensorRT and CUDA.
#   make trt-gpu-check TENSORRT_ROOT=... : scripts/trt-gpu-check.sh, the GPU tests in one go.
#   make trt-stamp: after editing csrc/trt.h or csrc/trt.cpp (see trt/shim_tensorrt.cpp).
#
# TENSORRT_ROOT is a TensorRT folder with include/ and lib/ (NVIDIA's tar package), or /usr for
# the deb packages. The flags reach cgo as CGO_CXXFLAGS and CGO_LDFLAGS, appended to the ones
# LIBTORCH may have set, so a tagged build recompiles the LibTorch shim once per flag set.

TENSORRT_ROOT ?=
TENSORRT_INCLUDE ?= $(if $(TENSORRT_ROOT),$(firstword $(wildcard $(TENSORRT_ROOT)/include/NvInfer.h $(TENSORRT_ROOT)/include/x86_64-linux-gnu/NvInfer.h $(TENSORRT_ROOT)/include/aarch64-linux-gnu/NvInfer.h)))
TENSORRT_LIB ?= $(if $(TENSORRT_ROOT),$(firstword $(foreach d,$(TENSORRT_ROOT)/lib $(TENSORRT_ROOT)/lib64 $(TENSORRT_ROOT)/lib/x86_64-linux-gnu $(TENSORRT_ROOT)/lib/aarch64-linux-gnu,$(if $(wildcard $(d)/libnvinfer.so*),$(d)))))
CUDA_ROOT ?= /usr/local/cuda
CUDA_INCLUDE ?= $(if $(wildcard $(CUDA_ROOT)/include/cuda_runtime_api.h),$(CUDA_ROOT)/include)
CUDA_LIB ?= $(firstword $(foreach d,$(CUDA_ROOT)/lib64 $(CUDA_ROOT)/lib $(CUDA_ROOT)/targets/x86_64-linux/lib,$(if $(wildcard $(d)/libcudart.so*),$(d))))
TRT_CUDA_DECL := $(CURDIR)/testdata/trt/cuda_decl

# TENSORRT_INCLUDE may name the folder or, as found from TENSORRT_ROOT, NvInfer.h in it.
TRT_INC_DIR = $(if $(filter %NvInfer.h,$(TENSORRT_INCLUDE)),$(patsubst %/,%,$(dir $(abspath $(TENSORRT_INCLUDE)))),$(abspath $(TENSORRT_INCLUDE)))
TRT_CUDA_INC = $(if $(CUDA_INCLUDE),$(abspath $(CUDA_INCLUDE)),$(TRT_CUDA_DECL))
# Folders the compiler searches already (the deb packages' /usr/include/<multiarch>) are not
# repeated: -isystem on them reorders the system headers and breaks libstdc++'s #include_next.
trt_isystem = $(if $(filter /usr/include /usr/include/%,$(1)),,-isystem $(1))
TRT_CXXFLAGS = $(call trt_isystem,$(TRT_INC_DIR)) $(call trt_isystem,$(TRT_CUDA_INC))
TRT_LDFLAGS = $(if $(TENSORRT_LIB),-L$(abspath $(TENSORRT_LIB)) -Wl$(COMMA)-rpath$(COMMA)$(abspath $(TENSORRT_LIB))) \
	$(if $(CUDA_LIB),-L$(abspath $(CUDA_LIB)) -Wl$(COMMA)-rpath$(COMMA)$(abspath $(CUDA_LIB)))
COMMA ?= ,
GO ?= go

.PHONY: trt-check trt-build trt-gpu-check trt-stamp trt-headers trt-libs trt-env trt-fuzz

trt-headers:
	@if [ -z "$(TENSORRT_INCLUDE)" ] || [ ! -f "$(TRT_INC_DIR)/NvInfer.h" ] || [ ! -f "$(TRT_INC_DIR)/NvOnnxParser.h" ]; then \
		echo "error: no TensorRT headers: set TENSORRT_INCLUDE to a folder with NvInfer.h and NvOnnxParser.h"; \
		echo "       (include/ of a TensorRT install, or of github.com/NVIDIA/TensorRT at the release's tag),"; \
		echo "       or TENSORRT_ROOT to the TensorRT folder: make $(MAKECMDGOALS) TENSORRT_ROOT=/opt/TensorRT-10.16"; exit 1; fi
	@echo >&2 "TensorRT headers $(TRT_INC_DIR): $$(grep -h -m3 -E '^#define TRT_(MAJOR|MINOR|PATCH)_ENTERPRISE' $(TRT_INC_DIR)/NvInferVersion.h | awk '{printf "%s%s", sep, $$3; sep="."}')"
	@echo >&2 "CUDA runtime header: $(if $(CUDA_INCLUDE),$(TRT_CUDA_INC)/cuda_runtime_api.h,$(TRT_CUDA_DECL)/cuda_runtime_api.h (declarations only: compile checks, never linked))"

## trt-check: compile the TensorRT shim and the tagged packages against TENSORRT_INCLUDE (no linking)
trt-check: trt-headers
	g++ -std=c++17 -Wall -Wextra -Werror -Wno-unused-parameter -fsyntax-only -x c++ $(TRT_CXXFLAGS) -Icsrc csrc/trt.cpp
	CGO_CXXFLAGS="$(strip $(CGO_CXXFLAGS) $(TRT_CXXFLAGS))" $(GO) vet -tags tensorrt ./trt/ ./cmd/build-engine/ ./csad/ ./cmd/csad/
	@echo "trt-check: csrc/trt.cpp, ./trt/, ./cmd/build-engine/, ./csad/ and ./cmd/csad/ compile against $(TRT_INC_DIR)"

# trt-libs: the libraries and the real CUDA headers that a linked build needs.
trt-libs: trt-headers
	@if [ -z "$(TENSORRT_LIB)" ]; then echo "error: no libnvinfer.so found$(if $(TENSORRT_ROOT), under $(TENSORRT_ROOT)): set TENSORRT_ROOT to a TensorRT install (or TENSORRT_LIB to its lib folder)"; exit 1; fi
	@if [ -z "$(CUDA_INCLUDE)" ] || [ -z "$(CUDA_LIB)" ]; then echo "error: no CUDA toolkit under CUDA_ROOT=$(CUDA_ROOT) (include/cuda_runtime_api.h and lib64/libcudart.so): set CUDA_ROOT (or CUDA_INCLUDE and CUDA_LIB)"; exit 1; fi

## trt-build: bin/build-engine and bin/csad with TensorRT (TENSORRT_ROOT; CUDA_ROOT if not /usr/local/cuda)
trt-build: trt-libs libtorch
	@mkdir -p bin
	CGO_CXXFLAGS="$(strip $(CGO_CXXFLAGS) $(TRT_CXXFLAGS))" CGO_LDFLAGS="$(strip $(CGO_LDFLAGS) $(TRT_LDFLAGS))" \
		$(GO) build -tags tensorrt -o bin/ ./cmd/build-engine/ ./cmd/csad/

## trt-env: the environment of a tagged build, as shell exports (eval "$$(make -s trt-env ...)")
trt-env: trt-libs
	@echo "export CGO_CXXFLAGS='$(strip $(CGO_CXXFLAGS) $(TRT_CXXFLAGS))'"
	@echo "export CGO_LDFLAGS='$(strip $(CGO_LDFLAGS) $(TRT_LDFLAGS))'"
	@echo "export LD_LIBRARY_PATH='$(abspath $(TENSORRT_LIB))$(if $(CUDA_LIB),:$(abspath $(CUDA_LIB)))'\$${LD_LIBRARY_PATH:+:\$$LD_LIBRARY_PATH}"

## trt-gpu-check: the TensorRT GPU tests and a build-engine run, on a machine with a GPU and TensorRT
trt-gpu-check:
	TENSORRT_ROOT="$(TENSORRT_ROOT)" CUDA_ROOT="$(CUDA_ROOT)" GO="$(GO)" scripts/trt-gpu-check.sh

## trt-stamp: record the digest of csrc/trt.{h,cpp} in trt/shim_tensorrt.cpp (Go's cache keys on it)
trt-stamp:
	@sum=$$(cat csrc/trt.h csrc/trt.cpp | sha256sum | cut -c1-64); \
		sed -i "s|^// csrc-trt-sha256: .*|// csrc-trt-sha256: $$sum|" trt/shim_tensorrt.cpp; \
		echo "trt/shim_tensorrt.cpp: csrc-trt-sha256 $$sum"

## trt-fuzz: the engine file reader, for a bounded time (the Makefile's fuzz target may call it)
trt-fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzDecodeEngine -fuzztime=$(or $(FUZZTIME),30s) ./trt/
