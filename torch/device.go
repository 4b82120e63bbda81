package torch

import (
	"strconv"
	"strings"
)

// ParseDevice reads "cpu", "cuda" or "cuda:N" and checks that this LibTorch can use it: a CUDA
// device needs a CUDA build of LibTorch (README: Another LibTorch) and a visible GPU.
func ParseDevice(s string) (Device, error) {
	var d Device
	switch {
	case s == "" || s == "cpu":
		return CPU, nil
	case s == "cuda":
		d = CUDA(0)
	case strings.HasPrefix(s, "cuda:"):
		i, err := strconv.Atoi(strings.TrimPrefix(s, "cuda:"))
		if err != nil || i < 0 {
			return CPU, errorf("ParseDevice", CodeInvalid, "device %q: want cpu, cuda or cuda:N with N ≥ 0", s)
		}
		d = CUDA(i)
	default:
		return CPU, errorf("ParseDevice", CodeInvalid, "device %q: want cpu, cuda or cuda:N", s)
	}
	if !CUDAAvailable() {
		return CPU, errorf("ParseDevice", CodeInvalid, "device %s: this LibTorch (%s) has no CUDA support or sees no GPU: build against a CUDA LibTorch (make LIBTORCH=/path/to/libtorch-cuda, README: Another LibTorch) on a machine with an NVIDIA GPU", s, Version())
	}
	if n := CUDADeviceCount(); d.Index >= n {
		return CPU, errorf("ParseDevice", CodeInvalid, "device %s: only %d CUDA device(s) visible (cuda:0..cuda:%d)", s, n, n-1)
	}
	return d, nil
}

// Equal reports whether d and o name the same device (an unset CUDA index means device 0).
func (d Device) Equal(o Device) bool {
	norm := func(d Device) Device {
		if d.Type == DeviceCUDA && d.Index < 0 {
			d.Index = 0
		}
		if d.Type == DeviceCPU {
			d.Index = -1
		}
		return d
	}
	return norm(d) == norm(o)
}
