package csad_test

import (
	"context"
	"fmt"
	"image"

	"github.com/csad-go/csad/csad"
)

// Fast mode in bfloat16 where the CPU has bfloat16 arithmetic, float32 fast mode elsewhere.
func ExampleOptions_bFloat16() {
	opts := csad.Options{Fast: true}
	if err := csad.CheckBFloat16CPU(); err == nil {
		opts.BFloat16 = true // the student and the autoencoder in bfloat16
	} else {
		fmt.Println("float32 fast mode:", err)
	}
	m, err := csad.Load("tray.csad", opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	r, err := m.Score(context.Background(), image.NewRGBA(image.Rect(0, 0, 256, 256)))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("score %.3f\n", r.Score)
}
