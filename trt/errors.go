package trt

import (
	"errors"
	"fmt"
)

// Code classifies an Error; the values mirror TRT_ERR_* in csrc/trt.h.
type Code int

// The error codes.
const (
	CodeInvalid     Code = 1 // a bad argument: batch outside the profile, sizes, names
	CodeParse       Code = 2 // TensorRT's ONNX parser refused the graph
	CodeBuild       Code = 3 // the builder could not make an engine
	CodeDeserialize Code = 4 // the runtime refused the plan
	CodeCUDA        Code = 5 // a CUDA call failed: no device, driver too old
	CodeOutOfMemory Code = 6 // a host or device allocation failed
	CodeRun         Code = 7 // setting a shape or enqueueing the engine failed
	CodeInternal    Code = 8
)

func (c Code) String() string {
	switch c {
	case CodeInvalid:
		return "invalid argument"
	case CodeParse:
		return "ONNX parse error"
	case CodeBuild:
		return "build error"
	case CodeDeserialize:
		return "deserialize error"
	case CodeCUDA:
		return "CUDA error"
	case CodeOutOfMemory:
		return "out of memory"
	case CodeRun:
		return "run error"
	case CodeInternal:
		return "internal error"
	}
	return fmt.Sprintf("code %d", int(c))
}

// Error is a failure reported by TensorRT or CUDA through the shim. Log holds what TensorRT
// logged during the failing call (warnings and errors, one per line), which often says more
// than Msg.
type Error struct {
	Op   string // what was being done: "build", "load", "run", ...
	Code Code
	Msg  string
	Log  string
}

func (e *Error) Error() string { return "trt: " + e.Op + ": " + e.Msg }

// Is makes errors.Is(err, &Error{Code: c}) match any Error with code c.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Op == "" && t.Msg == "" && t.Code == e.Code
}

// ErrNotBuilt is returned, wrapped with what to do, by every entry point of a binary built
// without the tensorrt build tag.
var ErrNotBuilt = errors.New("trt: this binary was built without TensorRT (the tensorrt build tag)")

// ErrClosed is returned by calls on a closed Engine or Context.
var ErrClosed = errors.New("trt: the engine or context is closed")

// ErrBatch is wrapped by the error of a Run whose batch is outside the engine's profile; it is
// returned before any CUDA call.
var ErrBatch = errors.New("trt: batch outside the engine's profile")

// ErrIncompatible is wrapped by the error of a Load whose engine was built for another
// TensorRT version or GPU; the message names both.
var ErrIncompatible = errors.New("trt: engine built for another TensorRT version or GPU")

// buildHint says how to get a binary with TensorRT.
const buildHint = "rebuild with the tensorrt build tag against a TensorRT 10 or 11 install: " +
	"make trt-build TENSORRT_ROOT=/path/to/TensorRT (or go build -tags tensorrt with CGO_CXXFLAGS and " +
	"CGO_LDFLAGS naming TensorRT's and CUDA's include and lib folders); TensorRT comes as NVIDIA's tar or " +
	"deb packages (https://developer.nvidia.com/tensorrt) or from pip (pip install tensorrt: libraries " +
	"only, the headers are in github.com/NVIDIA/TensorRT/include); see docs/tensorrt.md"

// notBuiltError is the error of every entry point without the tag: ErrNotBuilt with the
// operation and the fix.
type notBuiltError struct{ op string }

func (e notBuiltError) Error() string {
	return "trt: " + e.op + ": this binary was built without TensorRT (the tensorrt build tag); " + buildHint
}

func (e notBuiltError) Is(target error) bool { return target == ErrNotBuilt }

func notBuilt(op string) error { return notBuiltError{op} }
