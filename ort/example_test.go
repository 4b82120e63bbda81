package ort_test

import (
	"fmt"
	"log"
	"os"

	"github.com/csad-go/csad/ort"
)

// Score one all-zero 4x4 RGB image with the test fixture (a 3x3 Conv to 2 channels, the ArgMax
// over them plus a shift and an offset, and the sum of the Conv output): with a zero image the
// Conv output is its bias, 0.25 and -0.12109375, so channel 0 wins everywhere.
func ExampleSession_Run() {
	model, err := os.ReadFile("../testdata/ort/fixture.onnx")
	if err != nil {
		log.Fatal(err)
	}
	s, err := ort.NewSession(model, ort.Options{Threads: 1})
	if err != nil {
		log.Fatal(err) // names the library path tried, `make setup` and ORT_LIB
	}
	defer func() {
		if err := s.Close(); err != nil {
			log.Fatal(err)
		}
	}()
	for _, in := range s.Inputs() {
		fmt.Printf("input %s %s %v\n", in.Name, in.DType, in.Shape)
	}
	fmt.Println("kind:", s.Metadata()["csad.kind"])

	out, err := s.Run(map[string]ort.Tensor{
		"input":  {Shape: []int64{1, 3, 4, 4}, Float32: make([]float32, 48)},
		"shift":  {Shape: []int64{1}, Int32: []int32{0}},
		"offset": {Shape: []int64{}, Int64: []int64{7}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("label", out["label"].Shape, out["label"].Int64[:4])
	fmt.Println("total", out["total"].Float32[0])

	_, err = s.Run(map[string]ort.Tensor{
		"input":  {Shape: []int64{1, 3, 4, 5}, Float32: make([]float32, 60)},
		"shift":  {Shape: []int64{1}, Int32: []int32{0}},
		"offset": {Shape: []int64{}, Int64: []int64{7}},
	})
	fmt.Println(err)
	// Output:
	// input input float32 [-1 3 4 4]
	// input shift int32 [-1]
	// input offset int64 []
	// kind: ort-fixture
	// label [1 4 4] [7 7 7 7]
	// total 2.0625
	// ort: input "input" has shape [1 3 4 5], the model wants [batch 3 4 4]
}
