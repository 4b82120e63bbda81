//go:build tensorrt

package trt

// The shim is csrc/trt.cpp, compiled into this package by shim_tensorrt.cpp. TensorRT's and
// CUDA's headers and libraries come from CGO_CXXFLAGS and CGO_LDFLAGS (trt.mk computes them
// from TENSORRT_ROOT and CUDA_ROOT); cgo puts those before the flags here, so they win over
// the CUDA toolkit's default location below.

/*
#cgo CFLAGS: -I${SRCDIR}/../csrc
#cgo CXXFLAGS: -std=c++17 -O2 -g0 -DNDEBUG -Wall -Wno-unused-parameter -I${SRCDIR}/../csrc
#cgo CXXFLAGS: -isystem /usr/local/cuda/include
#cgo LDFLAGS: -L/usr/local/cuda/lib64 -lnvinfer -lnvonnxparser -lcudart
#include <stdlib.h>
#include "trt.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/csad-go/csad/internal/atomicfile"
)

// Enabled reports whether this binary was built with the tensorrt tag, that is with TensorRT.
const Enabled = true

// status turns a TrtStatus into an error (nil for TRT_OK) and returns the call's log either
// way; it frees the C strings.
func status(op string, st C.TrtStatus) (string, error) {
	log := ""
	if st.log != nil {
		log = C.GoString(st.log)
		C.free(unsafe.Pointer(st.log))
	}
	if st.code == C.TRT_OK {
		return log, nil
	}
	msg := Code(st.code).String()
	if st.msg != nil {
		msg = C.GoString(st.msg)
		C.free(unsafe.Pointer(st.msg))
	}
	return log, &Error{Op: op, Code: Code(st.code), Msg: msg, Log: log}
}

func versionOf(major, minor, patch, build C.int) Version {
	return Version{int(major), int(minor), int(patch), int(build)}
}

// Probe reports the TensorRT library this process loaded and CUDA device device.
func Probe(device int) (Runtime, error) {
	var v C.TrtVersion
	C.trt_version(&v)
	rt := Runtime{
		TensorRT: versionOf(v.lib_major, v.lib_minor, v.lib_patch, v.lib_build),
		Headers:  versionOf(v.header_major, v.header_minor, v.header_patch, v.header_build),
		Device:   device,
	}
	var n C.int
	if _, err := status("probe", C.trt_device_count(&n)); err != nil {
		return rt, err
	}
	rt.Devices = int(n)
	if device < 0 || device >= rt.Devices {
		return rt, &Error{Op: "probe", Code: CodeCUDA, Msg: fmt.Sprintf("CUDA device %d does not exist: %d visible (check the driver, nvidia-smi and CUDA_VISIBLE_DEVICES)", device, rt.Devices)}
	}
	var d C.TrtDeviceInfo
	if _, err := status("probe", C.trt_device_info(C.int(device), &d)); err != nil {
		return rt, err
	}
	rt.GPU = GPU{Name: C.GoString(&d.name[0]), Major: int(d.major), Minor: int(d.minor)}
	rt.CUDARuntime, rt.CUDADriver = int(d.cuda_runtime), int(d.cuda_driver)
	rt.TotalMemory = uint64(d.total_memory)
	return rt, nil
}

func dtypeName(d C.int) string {
	switch d {
	case C.TRT_DTYPE_FLOAT32:
		return "float32"
	case C.TRT_DTYPE_FLOAT16:
		return "float16"
	case C.TRT_DTYPE_BFLOAT16:
		return "bfloat16"
	case C.TRT_DTYPE_INT8:
		return "int8"
	case C.TRT_DTYPE_UINT8:
		return "uint8"
	case C.TRT_DTYPE_INT32:
		return "int32"
	case C.TRT_DTYPE_INT64:
		return "int64"
	case C.TRT_DTYPE_BOOL:
		return "bool"
	}
	return "other"
}

func dimsOf(d C.TrtDims) []int64 {
	n := int(d.nb)
	if n < 0 {
		return nil
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(d.d[i])
	}
	return out
}

func infoOf(t C.TrtTensorInfo) TensorInfo {
	return TensorInfo{Name: C.GoString(t.name), DType: dtypeName(t.dtype), Shape: dimsOf(t.shape)}
}

// blobBytes copies a TrtBlob into Go memory and frees it.
func blobBytes(b *C.TrtBlob) []byte {
	defer C.trt_blob_free(b)
	n := int(C.trt_blob_size(b))
	out := make([]byte, n)
	if n > 0 {
		copy(out, unsafe.Slice((*byte)(C.trt_blob_data(b)), n))
	}
	return out
}

func hardwareLevel(h HardwareCompatibility) C.int {
	switch h {
	case HardwareAmperePlus:
		return C.TRT_HWCOMPAT_AMPERE_PLUS
	case HardwareSameComputeCapability:
		return C.TRT_HWCOMPAT_SAME_COMPUTE_CAPABILITY
	}
	return C.TRT_HWCOMPAT_NONE
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// readTimingCache returns the cache file's contents, or nil when there is none yet.
func readTimingCache(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("trt: build: timing cache: %w", err)
	}
	if !st.Mode().IsRegular() || st.Size() > MaxTimingCacheBytes {
		return nil, fmt.Errorf("trt: build: timing cache %s is not a file of at most %d bytes: delete it or name another -timing-cache", path, MaxTimingCacheBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trt: build: timing cache: %w", err)
	}
	return data, nil
}

// Build parses an ONNX model (csad.ExportONNX's graph) with TensorRT's ONNX parser and builds
// an engine for the device opts.Device, with one optimization profile over the batch axis of
// opts.Input. Parser and builder messages come back in Built.Log, and the errors among them in
// the error.
func Build(onnx []byte, opts BuildOptions) (*Built, error) {
	opts, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	if len(onnx) == 0 {
		return nil, errors.New("trt: build: the ONNX model is empty")
	}
	g, err := inspectONNX(onnx)
	if err != nil {
		return nil, fmt.Errorf("trt: build: %w", err)
	}
	model := g.model
	if opts.Model != nil {
		model = *opts.Model
	}
	rt, err := Probe(opts.Device)
	if err != nil {
		return nil, err
	}
	fp16 := opts.FP16 || g.fp16
	if opts.FP16 && !g.fp16 && rt.TensorRT.Major >= 11 {
		return nil, fmt.Errorf("trt: build: TensorRT %s takes half precision from the graph's types only, and this graph is float32: export it with csad.ExportOptions{FP16: true} (build-engine -fp16 does so from a .csad file)", rt.TensorRT)
	}
	var cacheData []byte
	if opts.TimingCache != "" {
		if cacheData, err = readTimingCache(opts.TimingCache); err != nil {
			return nil, err
		}
	}

	var logs strings.Builder
	var b *C.TrtBuilder
	log, err := status("build", C.trt_builder_new(C.int(opts.Device), &b))
	logs.WriteString(log)
	if err != nil {
		return nil, err
	}
	liveBuilders.Add(1)
	defer func() {
		C.trt_builder_free(b)
		liveBuilders.Add(-1)
	}()
	var cache *C.TrtTimingCache
	if opts.TimingCache != "" {
		var p unsafe.Pointer
		if len(cacheData) > 0 {
			p = unsafe.Pointer(&cacheData[0])
		}
		log, err := status("build", C.trt_timing_cache_new(b, p, C.size_t(len(cacheData)), &cache))
		logs.WriteString(log)
		if err != nil {
			return nil, fmt.Errorf("%w (timing cache %s: delete it to start a new one)", err, opts.TimingCache)
		}
		defer C.trt_timing_cache_free(cache) // deferred after the builder's free: runs first
	}

	input := C.CString(opts.Input)
	defer C.free(unsafe.Pointer(input))
	copts := C.TrtBuildOptions{
		input:                  input,
		min_batch:              C.int64_t(opts.MinBatch),
		opt_batch:              C.int64_t(opts.OptBatch),
		max_batch:              C.int64_t(opts.MaxBatch),
		workspace_bytes:        C.uint64_t(opts.WorkspaceMiB) << 20,
		fp16:                   cbool(fp16),
		tf32:                   cbool(opts.TF32),
		version_compatible:     cbool(opts.VersionCompatible),
		hardware_compatibility: hardwareLevel(opts.Hardware),
		verbose:                cbool(opts.Verbose),
	}
	var plan *C.TrtBlob
	start := time.Now()
	log, err = status("build", C.trt_builder_build(b, unsafe.Pointer(&onnx[0]), C.size_t(len(onnx)), &copts, cache, &plan))
	took := time.Since(start)
	logs.WriteString(log)
	if err != nil {
		var te *Error
		if errors.As(err, &te) {
			te.Log = logs.String()
		}
		return nil, err
	}
	built := &Built{Plan: blobBytes(plan), Duration: took}

	h := Header{
		TensorRT: rt.TensorRT, Headers: rt.Headers, CUDARuntime: rt.CUDARuntime, GPU: rt.GPU,
		VersionCompatible: opts.VersionCompatible, Hardware: opts.Hardware, FP16: fp16, TF32: opts.TF32,
		WorkspaceMiB: opts.WorkspaceMiB, Profile: Profile{opts.MinBatch, opts.OptBatch, opts.MaxBatch},
		Category: model.Category, Normalisers: model.Normalisers, Model: model.Header,
		Created: time.Now().UTC().Format(time.RFC3339), Tool: "csad-go trt.Build",
	}
	for i := range int(C.trt_builder_io_count(b)) {
		var t C.TrtTensorInfo
		if C.trt_builder_io(b, C.int(i), &t) == 0 {
			continue
		}
		if t.is_input != 0 {
			h.Inputs = append(h.Inputs, infoOf(t))
		} else {
			h.Outputs = append(h.Outputs, infoOf(t))
		}
	}
	built.Header = h

	if cache != nil {
		var blob *C.TrtBlob
		if _, err := status("build", C.trt_timing_cache_serialize(cache, &blob)); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(opts.TimingCache, blobBytes(blob)); err != nil {
			return nil, fmt.Errorf("trt: build: write timing cache: %w", err)
		}
	}
	built.Log = logs.String()
	return built, nil
}

// Engine is a deserialized TensorRT engine on one device. It is safe for concurrent use:
// NewContext makes execution contexts, each for one goroutine at a time, and Run borrows one
// from a pool of LoadOptions.Contexts. Close releases it and every context made from it.
type Engine struct {
	mu       sync.Mutex
	h        *C.TrtEngine
	header   Header
	inputs   []TensorInfo
	outputs  []TensorInfo
	profile  Profile
	perInput int // float32 values of one sample of the input
	log      string
	contexts map[*Context]struct{}
	idle     chan *Context // pooled contexts for Run; closed by Close
	made     int           // pooled contexts made
	pool     int           // at most this many
	closed   bool
}

// Load opens an engine file written by Built.WriteFile (build-engine). Before TensorRT sees
// the plan, the header is checked against this process's TensorRT and GPU: an engine built
// for others is an error wrapping ErrIncompatible that names both.
func Load(path string, opts LoadOptions) (*Engine, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("trt: load: %w", err)
	}
	if !st.Mode().IsRegular() || st.Size() > int64(MaxPlanBytes+prefixBytes+MaxHeaderBytes) {
		return nil, fmt.Errorf("trt: load %s: not an engine file of at most %d bytes", path, int64(MaxPlanBytes))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trt: load: %w", err)
	}
	e, err := LoadBytes(data, opts)
	if err != nil {
		return nil, fmt.Errorf("%w (loading %s)", err, path)
	}
	return e, nil
}

// LoadBytes opens the contents of an engine file; see Load. data is only read during the call.
func LoadBytes(data []byte, opts LoadOptions) (*Engine, error) {
	opts, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	h, plan, err := DecodeEngine(data)
	if err != nil {
		return nil, err
	}
	rt, err := Probe(opts.Device)
	if err != nil {
		return nil, err
	}
	warning, err := h.Check(rt)
	if err != nil {
		return nil, err
	}
	var ce *C.TrtEngine
	log, err := status("load", C.trt_engine_load(unsafe.Pointer(&plan[0]), C.size_t(len(plan)), C.int(opts.Device), cbool(h.VersionCompatible), &ce))
	if err != nil {
		return nil, err
	}
	liveEngines.Add(1)
	if warning != "" {
		log = "W (csad) " + warning + "\n" + log
	}
	e := &Engine{h: ce, header: h, log: log, contexts: map[*Context]struct{}{}, pool: opts.Contexts}
	e.idle = make(chan *Context, e.pool)
	if err := e.describe(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// describe reads the engine's inputs, outputs and profile and checks them against the header
// and against what Run can feed and return.
func (e *Engine) describe() error {
	for i := range int(C.trt_engine_io_count(e.h)) {
		var t C.TrtTensorInfo
		if C.trt_engine_io(e.h, C.int(i), &t) == 0 {
			continue
		}
		if t.is_input != 0 {
			e.inputs = append(e.inputs, infoOf(t))
		} else {
			e.outputs = append(e.outputs, infoOf(t))
		}
	}
	damaged := func(what string) error {
		return fmt.Errorf("trt: load: the engine's %s disagree with its header: the file is damaged; rebuild it with build-engine", what)
	}
	if len(e.inputs) != 1 || e.inputs[0].DType != "float32" || len(e.inputs[0].Shape) < 1 {
		return fmt.Errorf("trt: load: the engine has inputs %v: csad engines have one float32 input", e.inputs)
	}
	if !sameNames(e.inputs, e.header.Inputs) || !sameNames(e.outputs, e.header.Outputs) {
		return damaged("inputs or outputs")
	}
	for _, o := range e.outputs {
		if o.DType != "float32" && o.DType != "int32" {
			return fmt.Errorf("trt: load: output %q is %s; Run returns float32 and int32 outputs only (csad.ExportONNX's)", o.Name, o.DType)
		}
	}
	in := C.CString(e.inputs[0].Name)
	defer C.free(unsafe.Pointer(in))
	var lo, opt, hi C.TrtDims
	if _, err := status("load", C.trt_engine_profile(e.h, in, &lo, &opt, &hi)); err != nil {
		return err
	}
	e.profile = Profile{int(lo.d[0]), int(opt.d[0]), int(hi.d[0])}
	if e.profile != e.header.Profile {
		return damaged(fmt.Sprintf("batch profile (%s, header: %s)", e.profile, e.header.Profile))
	}
	e.perInput = 1
	for _, d := range dimsOf(hi)[1:] {
		e.perInput *= int(d)
	}
	return nil
}

func sameNames(a, b []TensorInfo) bool {
	if len(a) != len(b) {
		return false
	}
	names := map[string]string{}
	for _, t := range b {
		names[t.Name] = t.DType
	}
	for _, t := range a {
		if d, ok := names[t.Name]; !ok || d != t.DType {
			return false
		}
	}
	return true
}

// Header returns the engine file's header.
func (e *Engine) Header() Header { return e.header }

// Inputs lists the engine's inputs (one, float32, -1 for the batch axis).
func (e *Engine) Inputs() []TensorInfo { return cloneInfos(e.inputs) }

// Outputs lists the engine's outputs in TensorRT's order.
func (e *Engine) Outputs() []TensorInfo { return cloneInfos(e.outputs) }

func cloneInfos(in []TensorInfo) []TensorInfo {
	out := make([]TensorInfo, len(in))
	for i, t := range in {
		out[i] = TensorInfo{Name: t.Name, DType: t.DType, Shape: append([]int64(nil), t.Shape...)}
	}
	return out
}

// Profile returns the batch range the engine runs.
func (e *Engine) Profile() Profile { return e.profile }

// Log returns what TensorRT logged while loading the engine, and our own warnings.
func (e *Engine) Log() string { return e.log }

// checkInput rejects a batch outside the profile, or an input of the wrong size, before any
// CUDA call.
func (e *Engine) checkInput(input []float32, batch int) error {
	if batch < e.profile.Min || batch > e.profile.Max {
		return fmt.Errorf("trt: run: %w: batch %d, the engine runs %d to %d: split the batch, or rebuild the engine with build-engine -min-batch/-max-batch",
			ErrBatch, batch, e.profile.Min, e.profile.Max)
	}
	if want := batch * e.perInput; len(input) != want {
		return fmt.Errorf("trt: run: the input has %d float32 values, want %d (batch %d × %v)", len(input), want, batch, e.inputs[0].Shape[1:])
	}
	return nil
}

// NewContext makes an execution context with its own CUDA stream and device buffers, sized
// once for the profile's largest batch. A context runs one batch at a time; use one per
// goroutine, or Engine.Run.
func (e *Engine) NewContext() (*Context, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	var cc *C.TrtContext
	if _, err := status("new context", C.trt_context_new(e.h, &cc)); err != nil {
		return nil, err
	}
	liveContexts.Add(1)
	c := &Context{e: e, h: cc}
	e.contexts[c] = struct{}{}
	return c, nil
}

// Run scores a batch on a context from the engine's pool, waiting for one when all
// LoadOptions.Contexts are busy. It is safe for concurrent use.
func (e *Engine) Run(input []float32, batch int) (map[string]Output, error) {
	if err := e.checkInput(input, batch); err != nil {
		return nil, err
	}
	c, err := e.acquire()
	if err != nil {
		return nil, err
	}
	defer e.release(c)
	return c.Run(input, batch)
}

func (e *Engine) acquire() (*Context, error) {
	select {
	case c, ok := <-e.idle:
		if !ok {
			return nil, ErrClosed
		}
		return c, nil
	default:
	}
	e.mu.Lock()
	grow := !e.closed && e.made < e.pool
	if grow {
		e.made++
	}
	e.mu.Unlock()
	if grow {
		c, err := e.NewContext()
		if err != nil {
			e.mu.Lock()
			e.made--
			e.mu.Unlock()
		}
		return c, err
	}
	c, ok := <-e.idle
	if !ok {
		return nil, ErrClosed
	}
	return c, nil
}

func (e *Engine) release(c *Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return // Close has closed c, or is closing it
	}
	e.idle <- c // never blocks: at most pool contexts exist for it
}

// Close waits for the runs in flight, then releases every context and the engine. It is
// idempotent and nil-safe.
func (e *Engine) Close() error {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	close(e.idle)
	cs := make([]*Context, 0, len(e.contexts))
	for c := range e.contexts {
		cs = append(cs, c)
	}
	e.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
	C.trt_engine_free(e.h)
	e.h = nil
	liveEngines.Add(-1)
	return nil
}

// Context is an execution context of an Engine: a CUDA stream and buffers for every input and
// output, reused by every Run. Runs on one context are serialized.
type Context struct {
	mu     sync.Mutex
	e      *Engine
	h      *C.TrtContext
	closed bool
}

// Run copies a batch (batch × the input's per-sample shape, float32, row-major) to the device,
// runs the engine and returns every output, copied into Go memory, by name. A batch outside
// the engine's profile is an error wrapping ErrBatch, returned before any CUDA call.
func (c *Context) Run(input []float32, batch int) (map[string]Output, error) {
	if err := c.e.checkInput(input, batch); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if _, err := status("run", C.trt_context_run(c.h, unsafe.Pointer(&input[0]), C.size_t(4*len(input)), C.int64_t(batch))); err != nil {
		return nil, err
	}
	out := make(map[string]Output, len(c.e.outputs))
	for i, info := range c.e.outputs {
		var data unsafe.Pointer
		var n C.size_t
		var shape C.TrtDims
		if C.trt_context_output(c.h, C.int(i), &data, &n, &shape) == 0 {
			return nil, &Error{Op: "run", Code: CodeInternal, Msg: fmt.Sprintf("output %d (%s) is missing", i, info.Name)}
		}
		o := Output{Shape: dimsOf(shape)}
		switch info.DType {
		case "float32":
			o.Float32 = make([]float32, int(n)/4)
			if len(o.Float32) > 0 {
				copy(o.Float32, unsafe.Slice((*float32)(data), len(o.Float32)))
			}
		case "int32":
			o.Int32 = make([]int32, int(n)/4)
			if len(o.Int32) > 0 {
				copy(o.Int32, unsafe.Slice((*int32)(data), len(o.Int32)))
			}
		}
		out[info.Name] = o
	}
	return out, nil
}

// Close waits for the context's run in flight and releases it. It is idempotent and nil-safe.
func (c *Context) Close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	C.trt_context_free(c.h)
	c.h = nil
	liveContexts.Add(-1)
	c.e.mu.Lock()
	delete(c.e.contexts, c)
	c.e.mu.Unlock()
	return nil
}
