package csad

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// A network that kept only fast mode's weights frees every tensor of its branches and keeps
// the detector and the normalisers; everything but the fast forward pass refuses it, naming
// the cause and the fix, rather than computing on freed tensors.
func TestFastOnlyNetworkRefusesTheRest(t *testing.T) {
	net, err := NewInitialised(SmallConfig(3), 5)
	require.NoError(t, err)
	defer func() { assert.NoError(t, net.Close()) }()
	h, err := NewHeader(net, "tray", Provenance{})
	require.NoError(t, err)
	require.NoError(t, net.keepOnlyFast(false))
	require.NoError(t, net.keepOnlyFast(false), "idempotent")

	for _, l := range []nn.Layer{net.Encoder, net.Teacher, net.Student, net.AE, net.Segmentor} {
		for _, p := range nn.StateDict(l) {
			assert.Error(t, p.Tensor.Err(), "%s is still allocated", p.Name)
		}
	}
	for _, p := range append(nn.StateDict(net.Detector), named(net.LGSTMean), named(net.QSTEnd)) {
		assert.NoError(t, p.Tensor.Err(), "%s was freed", p.Name)
	}

	s := torch.NewInferenceScope()
	defer s.Close()
	x := torch.Zeros(s, []int64{1, 3, 256, 256}, torch.Float32)
	o, err := net.Forward(x)
	require.NoError(t, err, "the fast pass runs")
	o.Close()

	const want = "kept only fast mode's weights"
	_, err = ExportONNX(net, h, ExportOptions{})
	assert.ErrorContains(t, err, want)
	file := filepath.Join(t.TempDir(), "m.csad")
	assert.ErrorContains(t, SaveModel(file, net, h), want)
	assert.NoFileExists(t, file)
	_, err = NewHeader(net, "tray", Provenance{})
	assert.ErrorContains(t, err, want)
	assert.ErrorContains(t, net.UseChannelsLast(), want)
	assert.ErrorContains(t, net.To(torch.CPU), want)
	nn.SetTraining(net.Segmentor, true)
	_, err = net.Forward(x)
	assert.ErrorContains(t, err, want, "a training-mode pass would need the real parameters")
}

// named pairs a normaliser with a name for the checks above.
func named(t *torch.Tensor) nn.Named { return nn.Named{Name: "normaliser", Tensor: t} }
