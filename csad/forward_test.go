package csad_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

func smallNetwork(t *testing.T) *csad.Network {
	t.Helper()
	net, err := csad.ImportUnified("../testdata/golden/model_small.pth")
	require.NoError(t, err)
	t.Cleanup(func() { net.Close() })
	return net
}

// An operation that fails in the middle of a forward pass (here a segmentor weight of the wrong
// shape, as a damaged model would have; out of memory takes the same path) comes back as an
// error naming the operation, with no panic and nothing left allocated.
func TestForwardFailureMidwayIsAnError(t *testing.T) {
	net := smallNetwork(t)
	before := torch.Live().Tensors
	s := torch.NewInferenceScope()
	bad := torch.Zeros(s, []int64{5, 3, 1, 1}, torch.Float32) // fc2.conv3 wants [5, 8, 1, 1]
	w := findWeight(t, net, "segmentor.fc2.conv3.weight")
	keep := w.Share(s)
	require.NoError(t, w.ReplaceWith(bad))
	x := torch.Randn(s, []int64{1, 3, 256, 256}, torch.Float32)
	_, err := net.Forward(x)
	require.NoError(t, w.ReplaceWith(keep))
	require.Error(t, err)
	require.Contains(t, err.Error(), "conv")
	s.Close()
	require.Equal(t, before, torch.Live().Tensors, "tensors left after a failed forward pass")
}

// Forward refuses inputs it cannot score instead of failing deep inside (or panicking).
func TestForwardRejectsBadInput(t *testing.T) {
	net := smallNetwork(t)
	s := torch.NewInferenceScope()
	defer s.Close()
	cases := []struct {
		x    *torch.Tensor
		want string
	}{
		{torch.Zeros(s, []int64{1, 3, 128, 128}, torch.Float32), "want (B, 3, 256, 256)"},
		{torch.Zeros(s, []int64{3, 256, 256}, torch.Float32), "want (B, 3, 256, 256)"},
		{torch.Zeros(s, []int64{1, 3, 256, 256}, torch.Float64), "want float32"},
		{torch.Zeros(s, []int64{1, 3, 256, 256}, torch.Float32).Reshape(7), "input"},
	}
	for _, c := range cases {
		_, err := net.Forward(c.x)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Forward(%v) = %v, want an error mentioning %q", c.x.Shape(), err, c.want)
		}
	}
	// An input without a scope would leave the outputs to the garbage collector.
	x := torch.Zeros(nil, []int64{1, 3, 256, 256}, torch.Float32)
	defer x.Close()
	_, err := net.Forward(x)
	require.ErrorContains(t, err, "no scope")
}

func findWeight(t *testing.T, net *csad.Network, name string) *torch.Tensor {
	t.Helper()
	for _, p := range nn.StateDict(net) {
		if p.Name == name {
			return p.Tensor
		}
	}
	t.Fatalf("no tensor %s", name)
	return nil
}

// UseChannelsLast re-lays the weights without recording history: a weight that requires
// gradients stays a leaf, so training still accumulates its gradient.
func TestChannelsLastKeepsLeaves(t *testing.T) {
	net, err := csad.NewInitialised(csad.SmallConfig(2), 1)
	require.NoError(t, err)
	defer net.Close()
	w := net.Student.Conv1.Weight
	require.NoError(t, w.SetRequiresGrad(true).Err())
	require.NoError(t, net.UseChannelsLast())
	require.True(t, w.RequiresGrad())
	s := torch.NewScope()
	defer s.Close()
	x := torch.Randn(s, []int64{1, 3, 256, 256}, torch.Float32)
	st, _ := net.Student.Forward(x)
	require.NoError(t, st.Sum().Backward())
	g, err := w.Grad(s)
	require.NoError(t, err)
	require.NotNil(t, g, "the channels-last weight lost its gradient: it is no longer a leaf")
}

// Image sizes other than the paper's 256 px: the maps are a quarter of the input, the
// segmentation is the input's size, and a model file of that size loads and scores.
func TestOtherImageSizes(t *testing.T) {
	for _, size := range []int64{64, 128, 320} {
		cfg := csad.SmallConfig(3).WithImageSize(size)
		net, err := csad.NewInitialised(cfg, 1)
		require.NoError(t, err, "size %d", size)
		s := torch.NewInferenceScope()
		o, err := net.Forward(torch.Randn(s, []int64{2, 3, size, size}, torch.Float32))
		require.NoError(t, err, "size %d", size)
		require.Equal(t, []int64{2, size / 4, size / 4}, o.Local.Shape())
		require.Equal(t, []int64{2, size, size}, o.Labels.Shape())
		require.Equal(t, []int64{2}, o.Score.Shape())
		s.Close()
		h, err := csad.NewHeader(net, "x", csad.Provenance{})
		require.NoError(t, err)
		p := t.TempDir() + "/m.csad"
		require.NoError(t, csad.SaveModel(p, net, h))
		net.Close()
		m, err := csad.Load(p, csad.Options{})
		require.NoError(t, err, "size %d", size)
		require.Equal(t, size, m.Header().Config.ImageSize)
		m.Close()
	}
	bad := csad.SmallConfig(3).WithImageSize(100)
	_, err := csad.NewNetwork(bad)
	require.ErrorContains(t, err, "multiple of 32")
}
