package nn

import (
	"fmt"
	"math"

	"github.com/csad-go/csad/torch"
)

// Initialisers draw from LibTorch's default generator exactly as torch.nn.init does, so after
// torch.ManualSeed the same layers built in the same order get the same values as in Python.
// They write in place without recording history.

// fanIn is torch.nn.init._calculate_fan_in_and_fan_out's fan_in. Like PyTorch it refuses tensors
// of fewer than 2 dimensions (a weight is (out, in, kernel...)), and it reports a failed tensor
// instead of reading sizes it does not have.
func fanIn(t *torch.Tensor) (float64, error) {
	if err := t.Err(); err != nil {
		return 0, err
	}
	shape := t.Shape()
	if len(shape) < 2 {
		return 0, fmt.Errorf("nn: fan in of a tensor of shape %v: it needs at least 2 dimensions, (out, in, kernel...)", shape)
	}
	receptive := int64(1)
	for _, s := range shape[2:] {
		receptive *= s
	}
	return float64(shape[1] * receptive), nil
}

// KaimingUniform is init.kaiming_uniform_(t, a, mode="fan_in", nonlinearity="leaky_relu"). It
// returns t, or a failed tensor carrying the reason t could not be initialised.
func KaimingUniform(t *torch.Tensor, a float64) *torch.Tensor {
	fan, err := fanIn(t)
	if err != nil {
		return torch.Failed(t.Scope(), err)
	}
	if t.Numel() == 0 {
		// PyTorch skips zero-element tensors (no draws from the generator either).
		return t
	}
	gain := math.Sqrt(2.0 / (1 + a*a))
	std := gain / math.Sqrt(fan)
	bound := math.Sqrt(3.0) * std
	return t.UniformInPlace(-bound, bound)
}

// Uniform is init.uniform_(t, lo, hi).
func Uniform(t *torch.Tensor, lo, hi float64) *torch.Tensor { return t.UniformInPlace(lo, hi) }

// DefaultInit is what Conv2d and Linear do in reset_parameters(); bias may be nil. The tensors are
// written in place; the error says why one could not be.
func DefaultInit(weight, bias *torch.Tensor) error {
	if err := KaimingUniform(weight, math.Sqrt(5)).Err(); err != nil {
		return fmt.Errorf("nn: initialising the weight: %w", err)
	}
	if bias == nil {
		return nil
	}
	fan, err := fanIn(weight)
	if err != nil {
		return err
	}
	if fan != 0 {
		bound := 1 / math.Sqrt(fan)
		if err := Uniform(bias, -bound, bound).Err(); err != nil {
			return fmt.Errorf("nn: initialising the bias: %w", err)
		}
	}
	return nil
}
