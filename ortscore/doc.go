// Package ortscore scores images with a CSAD model exported to ONNX, on ONNX Runtime, in a
// program that does not link LibTorch. It is the deployment path for machines that should not
// carry LibTorch (libtorch_cpu alone is 120 MB in Debian's 1.13, with its own dependencies;
// ONNX Runtime's CPU library is 44 MB): package csad, which trains, imports and
// exports models, links LibTorch, and so does every program that imports it; this package
// imports only the pure-Go image preprocessing (csad/imageproc) and the ONNX Runtime binding
// (package ort), and a test proves that neither its dependencies nor a program built on it
// reach LibTorch.
//
// # What a deployment needs
//
// Two files: the model as an .onnx file written by 'csad export -maps' (or csad.ExportONNX
// with ExportOptions{Maps: true}), which carries its header in the "csad.header" metadata; and
// ONNX Runtime's shared library, libonnxruntime.so.1 (1.24 or newer). The library is loaded with
// dlopen at the first Load, not linked, so the binary builds on machines without it. Load finds
// it as ort.LibraryPath does: $ORT_LIB if set, else
// $XDG_CACHE_HOME/csad-go/onnxruntime-1.30.0/libonnxruntime.so.1 (XDG_CACHE_HOME defaults to
// ~/.cache), where `make setup` installs it. On a deployment machine, copy the library anywhere
// and set ORT_LIB.
//
// # What it computes
//
// Score preprocesses the image as csad does (imageproc.Preprocess: Pillow's bilinear resize to
// the model's input side, ImageNet normalisation), runs the graph, and fills a Result with the
// fields and meaning of csad.Result. It is the computation that csad.Model runs with
// Options{Backend: csad.BackendONNXRuntime} inside a LibTorch build: the same graph on the same
// ONNX Runtime, so scores, maps and segmentation are equal bit for bit, and AnomalyMap too,
// because Resize reproduces LibTorch's bilinear interpolation to the last bit. Against the torch
// backend the scores and maps agree to float32 rounding (docs/onnx.md, "Accuracy").
//
// # Threads and ownership
//
// A Scorer is safe for concurrent use. Options.Threads sets ONNX Runtime's intra-op threads;
// Options.MaxInFlight bounds the forward passes that run at once, later calls waiting in arrival
// order; Options.GatherBatch lets single images that wait share the next pass. Close frees the
// ONNX Runtime session once the calls in flight have finished; later calls return ErrClosed.
// Result slices belong to the caller.
package ortscore
