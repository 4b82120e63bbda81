package nn

import (
	"math"

	"github.com/csad-go/csad/torch"
)

// Initialisers draw from LibTorch's default generator exactly as torch.nn.init does, so after
// torch.ManualSeed the same layers built in the same order get the same values as in Python.
// They write in place without recording history.

// fanIn is torch.nn.init._calculate_fan_in_and_fan_out's fan_in for a weight of this shape.
func fanIn(shape []int64) float64 {
	if len(shape) < 2 {
		return float64(shape[0])
	}
	receptive := int64(1)
	for _, s := range shape[2:] {
		receptive *= s
	}
	return float64(shape[1] * receptive)
}

// KaimingUniform is init.kaiming_uniform_(t, a, mode="fan_in", nonlinearity="leaky_relu").
func KaimingUniform(t *torch.Tensor, a float64) *torch.Tensor {
	gain := math.Sqrt(2.0 / (1 + a*a))
	std := gain / math.Sqrt(fanIn(t.Shape()))
	bound := math.Sqrt(3.0) * std
	return t.UniformInPlace(-bound, bound)
}

// Uniform is init.uniform_(t, lo, hi).
func Uniform(t *torch.Tensor, lo, hi float64) *torch.Tensor { return t.UniformInPlace(lo, hi) }

// DefaultInit is what Conv2d and Linear do in reset_parameters(); bias may be nil.
func DefaultInit(weight, bias *torch.Tensor) {
	KaimingUniform(weight, math.Sqrt(5))
	if bias != nil {
		if fan := fanIn(weight.Shape()); fan != 0 {
			bound := 1 / math.Sqrt(fan)
			Uniform(bias, -bound, bound)
		}
	}
}
