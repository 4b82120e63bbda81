//go:build tensorrt

// The TensorRT shim lives in csrc/ next to the LibTorch one; it is compiled here, into package
// trt and only with the tensorrt tag, so that package csrc (and every binary without the tag)
// never needs TensorRT.
//
// Go's build cache does not see files included from another folder, so the digest below of
// csrc/trt.h and csrc/trt.cpp (concatenated, SHA-256) stands for them: a change to either
// must change this file, or cgo would keep linking the old objects. TestShimDigest fails
// until it is updated; 'make trt-stamp' updates it.
//
// csrc-trt-sha256: 4ace97e640f9d569a3802c1adb253bf172ffd654a8918662829d041f3cc84090

#include "../csrc/trt.cpp"
