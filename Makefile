# csad-go: make setup (once), make demo, make test. See README.md.
#
# cgo compiles the C++ shim (csrc/) itself, so go build, go vet and go test need no step of ours
# before them; this Makefile adds the commands in bin/, the demo, the test suite and LIBTORCH.
#
# LIBTORCH=/path/to/libtorch selects another LibTorch (official zip, a pip wheel's torch/ folder,
# CPU or CUDA) by exporting the CGO_CXXFLAGS and CGO_LDFLAGS that cgo reads; by default the flags
# in csrc/cgo.go use Debian's libtorch-dev.

SHELL := /bin/bash
LIBTORCH ?=
PYTHON ?= /usr/bin/python3
GO ?= go
FUZZTIME ?= 30s
COMMA := ,
APT_PACKAGES := libtorch-dev g++ python3-torch python3-torchvision libopenblas0-pthread python3-sklearn python3-pil python3-tifffile python3-onnx

# Another LibTorch: headers under include/, libraries under lib/ (or a multiarch lib/ folder),
# and TorchConfig.cmake, whose TORCH_CXX_FLAGS name the C++ ABI the libraries were built with.
ifneq ($(LIBTORCH),)
LT := $(abspath $(LIBTORCH))
LT_LIB := $(firstword $(foreach d,$(LT)/lib $(LT)/lib/x86_64-linux-gnu $(LT)/lib/aarch64-linux-gnu $(LT)/lib64,$(if $(wildcard $(d)/libtorch_cpu.so),$(d))))
LT_CONFIG := $(firstword $(wildcard $(LT)/share/cmake/Torch/TorchConfig.cmake $(LT_LIB)/cmake/Torch/TorchConfig.cmake))
LT_ABI := $(if $(LT_CONFIG),$(shell grep -o -m1 '_GLIBCXX_USE_CXX11_ABI=[01]' $(LT_CONFIG)))
LT_MISSING := $(if $(wildcard $(LT)/include/torch/csrc/api/include/torch/torch.h),,include/torch/csrc/api/include/torch/torch.h) \
	$(if $(LT_LIB),,lib/libtorch_cpu.so) $(if $(LT_CONFIG),,share/cmake/Torch/TorchConfig.cmake) \
	$(if $(LT_CONFIG),$(if $(LT_ABI),,_GLIBCXX_USE_CXX11_ABI in TorchConfig.cmake))
LT_CUDA := $(wildcard $(LT_LIB)/libtorch_cuda.so)
# /usr is Debian's own: its folders are searched already, and -isystem /usr/include would
# reorder the system headers and break libstdc++'s #include_next.
ifneq ($(LT),/usr)
export CGO_CXXFLAGS := -isystem $(LT)/include -isystem $(LT)/include/torch/csrc/api/include -D$(LT_ABI)
export CGO_LDFLAGS := -L$(LT_LIB) -Wl,-rpath,$(LT_LIB)$(if $(LT_CUDA), -Wl$(COMMA)--no-as-needed -ltorch_cuda -Wl$(COMMA)--as-needed)
else
export CGO_CXXFLAGS := -D$(LT_ABI)
endif
endif

.PHONY: all setup libtorch build test test-go test-external test-race test-leaks fuzz golden demo bench clean

all: build

## setup: install what a fresh Debian 12 machine lacks (no-op when present)
setup:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "setup: all packages present"; fi
	@command -v $(GO) >/dev/null || { echo "setup: Go 1.26 is required (https://go.dev/dl)"; exit 1; }
	@scripts/setup-onnxruntime.sh

## libtorch: fail early, with the fix, when the selected LibTorch is not there
libtorch:
ifneq ($(LIBTORCH),)
	@if [ -n "$(strip $(LT_MISSING))" ]; then \
		echo "error: LIBTORCH=$(LIBTORCH) is not a usable LibTorch folder: missing $(strip $(LT_MISSING))."; \
		echo "       Run 'make setup' to install Debian's libtorch-dev and leave LIBTORCH unset, or set"; \
		echo "       LIBTORCH to the folder holding include/, lib/ and share/cmake/Torch (an unpacked"; \
		echo "       official zip or a pip wheel's torch/): make LIBTORCH=/path/to/libtorch ..."; exit 1; fi
	@echo "LibTorch $(LT) ($(if $(LT_CUDA),CUDA,CPU), $(LT_ABI))"
else
	@if [ -z "$$CGO_CXXFLAGS" ] && [ ! -f /usr/include/torch/csrc/api/include/torch/torch.h ]; then \
		echo "error: LibTorch not found: Debian's libtorch-dev is not installed."; \
		echo "       Run 'make setup' to install it, or point the build at another LibTorch:"; \
		echo "       make LIBTORCH=/path/to/libtorch ... (README.md: Another LibTorch)"; exit 1; fi
endif

## build: every Go package (cgo compiles the shim into them) and the commands in bin/
build: libtorch
	$(GO) build ./...
	@mkdir -p bin
	@for d in cmd/*/; do if [ -f $$d/main.go ]; then $(GO) build -o bin/ ./$$d || exit 1; fi; done

## demo: synthetic data set -> model file -> scores and maps -> report (see README)
DEMO := demo
demo: build
	./bin/csad synth -out $(DEMO)/data -category tray -train 40 -val 10 -test-good 20 -test-logical 20 -test-structural 20
	./bin/csad train -data $(DEMO)/data -category tray -out $(DEMO)/run -preset cpu
	./bin/csad eval -model $(DEMO)/run/model.csad -data $(DEMO)/data -category tray -out $(DEMO)/eval
	@echo "demo: open $(DEMO)/eval/report.md"

## test: everything CI runs
test: build test-go test-external test-race test-leaks fuzz

test-go: libtorch
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) test -count=1 -timeout 40m $$($(GO) list ./... | grep -v '/internal/externaltest$$')

## test-external: a module in a temporary folder requires this one, builds a scorer and runs it
test-external: libtorch
	$(GO) test -count=1 -timeout 30m ./internal/externaltest/

## test-race: concurrent scoring under the race detector
test-race: libtorch
	$(GO) test -count=1 -race -run 'Concurrent|Scope' ./csad/ ./torch/

## test-leaks: the torch packages again with live-object accounting that names leaking call sites
test-leaks: libtorch
	$(GO) test -count=1 -tags leakcheck ./torch/...

include trt.mk

## fuzz: the pure-Go checkpoint parsers for a bounded time
fuzz: libtorch
	$(call fuzz_run,FuzzLoad,$(FUZZTIME),./torch/checkpoint/)
	$(call fuzz_run,FuzzDecode,$(FUZZTIME),./csad/tiffmap/)
	$(call fuzz_run,FuzzDecode,$(FUZZTIME),./csad/imageproc/)
	$(call fuzz_run,FuzzCheckHeader,15s,./csad/)
	$(call fuzz_run,FuzzHDBSCAN,15s,./csad/cluster/)
	$(call fuzz_run,FuzzDecodeEngine,15s,./trt/)

# fuzz_run fuzzes target $(1) of package $(3) for $(2). Go 1.26's fuzzing coordinator can end a
# time-limited run with "context deadline exceeded" and no failing input when a worker is still
# busy as the time runs out (golang/go#75804, fixed in Go 1.27; seen here once on a loaded
# machine); such a run is repeated once. A run that found an input, or failed otherwise, fails.
fuzz_run = out=$$($(GO) test -run='^$$' -fuzz=$(1) -fuzztime=$(2) $(3) 2>&1); rc=$$?; echo "$$out"; \
	if [ $$rc -ne 0 ] && echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input written'; then \
		echo "fuzz: $(1) in $(3) stopped on Go's deadline race (golang/go issue 75804), no failing input: once more"; \
		$(GO) test -run='^$$' -fuzz=$(1) -fuzztime=$(2) $(3); \
	else exit $$rc; fi

## golden: regenerate the committed golden files with Debian's PyTorch (gen_golden.py,
## gen_golden_train.py, gen_lgst_golden.py, gen_train_golden_seg.py and the --outputs runs are
## made by the tests themselves, on the machine under test: torchtest.GoldenDir)
golden:
	cd testdata && $(PYTHON) gen_checkpoint_fixtures.py
	cd testdata && $(PYTHON) gen_metrics_golden.py
	cd testdata && $(PYTHON) gen_model_golden.py
	cd testdata && $(PYTHON) gen_e2e_golden.py
	cd testdata && $(PYTHON) gen_imageproc_golden.py
	cd testdata && $(PYTHON) gen_cluster_golden.py
	cd testdata && $(PYTHON) gen_pseudolabel_golden.py
	cd testdata && $(PYTHON) gen_augment_golden.py   # needs python3-opencv

## bench: the soak and memory benchmarks (figures printed); 'csad bench' measures speed
bench: build
	$(GO) test -run='^$$' -bench=. -benchtime=1x ./torch/ ./csad/
	@mkdir -p bin/bench && ./bin/csad import -in testdata/golden/model_small.pth -out bin/bench/small.csad
	./bin/csad bench -model bin/bench/small.csad -batch 1,8 -threads 2 -iters 10

## clean: the commands and the demo; build/ is what CMake left before cgo built the shim
clean:
	rm -rf bin $(DEMO) build
