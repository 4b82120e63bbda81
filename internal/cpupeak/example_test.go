package cpupeak_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/csad-go/csad/internal/cpupeak"
)

// The ceiling of a model that needs 189 GFLOP of convolutions an image, on two threads.
func ExampleMeasure() {
	p, err := cpupeak.Measure(2, 50*time.Millisecond)
	if errors.Is(err, cpupeak.ErrNoKernel) {
		fmt.Println("no ceiling for this CPU")
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	atMost := p.GFLOPS / 189
	fmt.Println(atMost > 0)
	// Output: true
}
