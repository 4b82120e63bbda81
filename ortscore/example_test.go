package ortscore_test

import (
	"context"
	"fmt"
	"image"
	"log"

	"github.com/csad-go/csad/ortscore"
)

// Load refuses a graph that csad-go did not export: package ort's test fixture is a valid
// ONNX model, but it has no "csad.header" metadata.
func ExampleLoad() {
	s, err := ortscore.Load("../testdata/ort/fixture.onnx", ortscore.Options{Threads: 1})
	fmt.Println(s == nil)
	fmt.Println(err)
	// Output:
	// true
	// ortscore: ../testdata/ort/fixture.onnx has no "csad.header" metadata, so it is not a CSAD graph that csad-go exported: export the .csad model with 'csad export -maps'
}

// The usual deployment: load the exported graph once, share the Scorer between goroutines,
// score decoded images. (Not run: it needs an exported model, model.onnx.)
func ExampleScorer_Score() {
	s, err := ortscore.Load("model.onnx", ortscore.Options{Threads: 4, MaxInFlight: 2})
	if err != nil {
		log.Fatal(err) // names the file, the cause and the fix ('csad export -maps', ORT_LIB)
	}
	defer s.Close()
	var img image.Image // from imageproc.Load, image.Decode, a camera, ...
	r, err := s.Score(context.Background(), img)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: score %.3f anomalous %v; map %d×%d\n", s.Header().Category, r.Score, r.Anomalous, r.Width, r.Height)
}

// Resize is LibTorch's bilinear interpolation (align_corners=False): a 2×2 map to 4×3.
func ExampleResize() {
	out, err := ortscore.Resize([]float32{0, 1, 2, 3}, 2, 2, 4, 3)
	if err != nil {
		log.Fatal(err)
	}
	for y := range 3 {
		fmt.Println(out[4*y : 4*y+4])
	}
	// Output:
	// [0 0.25 0.75 1]
	// [1 1.25 1.75 2]
	// [2 2.25 2.75 3]
}
