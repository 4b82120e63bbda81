# csad-go: make setup (once), make demo, make test. See README.md.
#
# LIBTORCH=/path/to/libtorch selects another LibTorch (official zip, a pip wheel's torch/ folder,
# CPU or CUDA); by default Debian's libtorch-dev is used.

SHELL := /bin/bash
LIBTORCH ?=
PYTHON ?= /usr/bin/python3
GO ?= go
FUZZTIME ?= 30s
APT_PACKAGES := libtorch-dev cmake python3-torch python3-torchvision libopenblas0-pthread python3-sklearn python3-pil

BUILD := build
SHIM := $(BUILD)/libcsadtorch.so
CMAKE_ARGS := -DCMAKE_BUILD_TYPE=Release
ifneq ($(LIBTORCH),)
CMAKE_ARGS += -DLIBTORCH=$(abspath $(LIBTORCH))
endif

.PHONY: all setup build shim test test-go test-race test-leaks fuzz golden demo bench clean

all: build

## setup: install what a fresh Debian 12 machine lacks (no-op when present)
setup:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "setup: all packages present"; fi
	@command -v $(GO) >/dev/null || { echo "setup: Go 1.26 is required (https://go.dev/dl)"; exit 1; }

## shim: build libcsadtorch with CMake against the selected LibTorch (incremental)
shim:
	@if [ -f $(BUILD)/.libtorch ] && [ "$$(cat $(BUILD)/.libtorch)" != "$(LIBTORCH)" ]; then \
		echo "LibTorch changed: rebuilding the shim from scratch"; rm -rf $(BUILD); fi
	@mkdir -p $(BUILD)
	@if [ ! -f $(BUILD)/CMakeCache.txt ]; then \
		cmake -S . -B $(BUILD) $(CMAKE_ARGS) >$(BUILD)/cmake.log 2>&1 || { rm -f $(BUILD)/CMakeCache.txt; \
		grep -B1 -A4 "CMake Error" $(BUILD)/cmake.log | head -20; echo; \
		echo "error: LibTorch not found or unusable. Run 'make setup' to install Debian's libtorch-dev,"; \
		echo "       or point the build at another LibTorch: make LIBTORCH=/path/to/libtorch ..."; \
		echo "       (a folder containing share/cmake/Torch). Full log: $(BUILD)/cmake.log"; exit 1; }; fi
	@echo "$(LIBTORCH)" > $(BUILD)/.libtorch
	@cmake --build $(BUILD) -j2

## build: the shim, every Go package, and the commands in bin/
build: shim
	$(GO) build ./...
	@mkdir -p bin
	@for d in cmd/*/; do [ -f $$d/main.go ] && $(GO) build -o bin/ ./$$d || true; done

## demo: synthetic data set -> model file -> scores and maps -> report (see README)
DEMO := demo
demo: build
	./bin/csad synth -out $(DEMO)/data -category tray -train 8 -val 4 -test-good 10 -test-logical 10 -test-structural 10
	./bin/csad import -in testdata/golden/model_small.pth -category tray -out $(DEMO)/tray.csad
	./bin/csad score -model $(DEMO)/tray.csad -json -maps $(DEMO)/maps $(DEMO)/data/tray/test > $(DEMO)/scores.jsonl
	./bin/csad report -dataset $(DEMO)/data/tray -scores $(DEMO)/scores.jsonl -maps $(DEMO)/maps -out $(DEMO)/report
	@echo "demo: open $(DEMO)/report/report.md"

## test: everything CI runs
test: build test-go test-race test-leaks fuzz

test-go:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) test -count=1 -timeout 40m ./...

## test-race: concurrent scoring under the race detector
test-race:
	$(GO) test -count=1 -race -run 'Concurrent|Scope' ./csad/ ./torch/

## test-leaks: the torch packages again with live-object accounting that names leaking call sites
test-leaks:
	$(GO) test -count=1 -tags leakcheck ./torch/...

## fuzz: the pure-Go checkpoint parsers for a bounded time
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzLoad -fuzztime=$(FUZZTIME) ./torch/checkpoint/
	$(GO) test -run='^$$' -fuzz=FuzzDecode -fuzztime=$(FUZZTIME) ./csad/tiffmap/
	$(GO) test -run='^$$' -fuzz=FuzzDecode -fuzztime=$(FUZZTIME) ./csad/imageproc/

## golden: regenerate the committed golden files with Debian's PyTorch
golden:
	cd testdata && $(PYTHON) gen_golden.py
	cd testdata && $(PYTHON) gen_checkpoint_fixtures.py
	cd testdata && $(PYTHON) gen_metrics_golden.py
	cd testdata && $(PYTHON) gen_golden_train.py
	cd testdata && $(PYTHON) gen_model_golden.py
	cd testdata && $(PYTHON) gen_imageproc_golden.py

## bench: the soak and memory benchmarks (figures printed); 'csad bench' measures speed
bench: build
	$(GO) test -run='^$$' -bench=. -benchtime=1x ./torch/ ./csad/

clean:
	rm -rf $(BUILD) bin $(DEMO)
