package trt_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/csad-go/csad/trt"
)

// An engine file is a header that says what built the plan, then the plan. The header can be
// read and checked on any machine, without TensorRT: here against a GPU of another kind.
func ExampleEncodeEngine() {
	h := trt.Header{
		TensorRT: trt.Version{Major: 10, Minor: 16, Patch: 0, Build: 32}, Headers: trt.Version{Major: 10, Minor: 16, Patch: 0, Build: 32},
		GPU:      trt.GPU{Name: "NVIDIA H200", Major: 9, Minor: 0},
		Hardware: trt.HardwareNone, Profile: trt.Profile{Min: 1, Opt: 1, Max: 8},
		Inputs:   []trt.TensorInfo{{Name: "input", DType: "float32", Shape: []int64{-1, 3, 256, 256}}},
		Outputs:  []trt.TensorInfo{{Name: "score", DType: "float32", Shape: []int64{-1}}},
		Category: "breakfast_box",
	}
	var file bytes.Buffer
	if err := trt.EncodeEngine(&file, h, []byte("the serialized plan")); err != nil {
		fmt.Println(err)
		return
	}
	got, offset, err := trt.ReadHeader(bytes.NewReader(file.Bytes()))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(got.Category, got.Profile, "- plan at byte", offset, "of", file.Len())

	_, err = got.Check(trt.Runtime{TensorRT: h.TensorRT, GPU: trt.GPU{Name: "NVIDIA L4", Major: 8, Minor: 9}})
	fmt.Println(errors.Is(err, trt.ErrIncompatible))
	fmt.Println(err)
	// Output:
	// breakfast_box batch min 1, opt 1, max 8 - plan at byte 526 of 545
	// true
	// trt: engine built for another TensorRT version or GPU: the engine was built with TensorRT 10.16.0.32 on NVIDIA H200 (compute capability 9.0); this process has TensorRT 10.16.0.32 on NVIDIA L4 (compute capability 8.9): the compute capabilities differ; rebuild it here with build-engine (or build it with -hardware-compatibility ampere+)
}
