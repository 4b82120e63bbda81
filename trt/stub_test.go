//go:build !tensorrt

package trt_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/trt"
)

// Without the tensorrt tag every entry point returns ErrNotBuilt, with a message that says
// how to get TensorRT and how to build with it.
func TestWithoutTagEveryEntryPointSaysHowToBuild(t *testing.T) {
	require.False(t, trt.Enabled)
	var e *trt.Engine
	var c *trt.Context
	calls := map[string]func() error{
		"Build": func() error { _, err := trt.Build([]byte("onnx"), trt.BuildOptions{}); return err },
		"Load":  func() error { _, err := trt.Load("model.engine", trt.LoadOptions{}); return err },
		"LoadBytes": func() error {
			_, err := trt.LoadBytes([]byte(trt.Magic), trt.LoadOptions{})
			return err
		},
		"Probe":       func() error { _, err := trt.Probe(0); return err },
		"NewContext":  func() error { _, err := e.NewContext(); return err },
		"Engine.Run":  func() error { _, err := e.Run(make([]float32, 3), 1); return err },
		"Context.Run": func() error { _, err := c.Run(make([]float32, 3), 1); return err },
	}
	for name, call := range calls {
		err := call()
		require.Error(t, err, name)
		assert.True(t, errors.Is(err, trt.ErrNotBuilt), "%s: %v", name, err)
		msg := err.Error()
		assert.Regexp(t, `^trt: `, msg, name)
		for _, want := range []string{"the tensorrt build tag", "TENSORRT_ROOT", "-tags tensorrt",
			"NVIDIA's tar or deb packages", "pip install tensorrt", "docs/tensorrt.md"} {
			assert.Contains(t, msg, want, name)
		}
	}
	assert.Contains(t, calls["Load"]().Error(), "trt: load model.engine: ")
	assert.NoError(t, e.Close(), "Close of nothing releases nothing")
	assert.NoError(t, c.Close())
	assert.False(t, trt.Live().Leaked())
}
