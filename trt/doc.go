// Package trt builds and runs TensorRT engines of csad models: the ONNX graph of
// csad.ExportONNX goes through TensorRT's ONNX parser and builder into a plan, which is written
// with a header of our own and loaded, checked and run on an NVIDIA GPU.
//
// # Building
//
// The TensorRT binding (csrc/trt.h and csrc/trt.cpp, compiled into this package by
// shim_tensorrt.cpp) is only built with the tensorrt build tag, against TensorRT 10 or 11 and
// the CUDA runtime:
//
//	make trt-build TENSORRT_ROOT=/opt/TensorRT-10.16.0.32 CUDA_ROOT=/usr/local/cuda
//
// which sets CGO_CXXFLAGS and CGO_LDFLAGS for `go build -tags tensorrt` (docs/tensorrt.md says
// how to set them by hand). Without the tag (the default, and every machine without a GPU) the
// same API compiles and every entry point returns an error wrapping ErrNotBuilt that says how
// to get TensorRT and build with it; Enabled tells which build a binary is. The engine file
// format (EncodeEngine, DecodeEngine, ReadHeader, Header.Check) is pure Go and works in both.
//
// # Engine files
//
// Built.WriteFile writes an engine file: a small binary frame, a JSON Header (TensorRT
// version, GPU and compute capability, precision, batch profile, inputs and outputs, and the
// .csad model's category, normalisers and header) and TensorRT's plan with its CRC-32C. Load
// checks the header against the TensorRT library and GPU of the process before TensorRT sees
// the plan, so an engine from another TensorRT version or GPU fails with a message naming
// both (ErrIncompatible) instead of TensorRT's "version tag does not match". Built.WritePlan
// writes the plan alone, for Triton.
//
// # Ownership and threading
//
// Engine and Context hold native memory that the garbage collector does not see: Close them
// (Close is idempotent and nil-safe; closing an Engine closes its contexts). An Engine is safe
// for concurrent use. A Context (an IExecutionContext with its own CUDA stream and device and
// pinned host buffers, allocated once for the profile's largest batch) runs one batch at a
// time: give each goroutine its own (Engine.NewContext), or call Engine.Run, which borrows one
// from a pool of LoadOptions.Contexts. Every shim call makes its CUDA device current for its
// own duration only. Live counts the native objects held.
//
// # Errors
//
// Every shim call returns a status with TensorRT's own messages of that call (the logger
// collects per call, never into a global last error); failures come back as *Error with the
// code, the message and the log. A batch outside the engine's profile is an error wrapping
// ErrBatch, returned before any CUDA call.
//
// # Precision
//
// Engines are FP32 with TF32 off by default, so that they match the LibTorch backend. FP16
// comes from the graph's types (csad.ExportOptions{FP16: true}): TensorRT 11 networks are
// strongly typed and have no FP16 builder flag; on TensorRT 10 BuildOptions.FP16 also sets it.
package trt
