// Package ort runs exported ONNX models on the CPU with ONNX Runtime, so that a CSAD model
// exported to .onnx can be scored without LibTorch and checked against the Go implementation.
//
// It wraps github.com/yalue/onnxruntime_go, which loads the ONNX Runtime shared library with
// dlopen at run time: nothing is linked at build time, and a machine without the library builds
// this package fine and only fails at Init. The library is found by LibraryPath: $ORT_LIB if set,
// else $XDG_CACHE_HOME/csad-go/onnxruntime-1.30.0/libonnxruntime.so.1 (XDG_CACHE_HOME defaults to
// ~/.cache), which `make setup` extracts from the npm package onnxruntime-node@1.30.0. Any
// ONNX Runtime 1.24 or newer works, since onnxruntime_go v1.27.0 asks for C API version 24 and
// newer libraries still serve older API versions.
//
// Init loads the library once per process; a failure is returned again, freshly tried, by the
// next call, so a process can recover once the library is installed. A Session holds one model:
// its inputs are checked against the model's declared names, element types and fixed dims before
// anything native is allocated; its outputs are allocated by ONNX Runtime (their shapes may
// depend on the input) and copied into Go slices. Run is safe from many goroutines at once (ONNX
// Runtime sessions are); Close waits for the runs in flight.
//
// Element types: float32, int32 and int64 inputs and outputs; float16 inputs are fed from
// float32 data (rounded to nearest even); float16 outputs are refused by NewSession, because
// onnxruntime_go v1.27.0 truncates them (end the graph with a Cast to float32). Outputs declared
// as scalars are pre-allocated here, since onnxruntime_go cannot wrap an ORT-allocated rank-0
// tensor; an output declared without any shape that turns out to be a scalar therefore fails.
//
// NewSession compiles the model twice: onnxruntime_go reads input and output infos through a
// throwaway session, and needs the names before it creates the real one.
package ort
