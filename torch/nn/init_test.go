package nn_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// Initialisers and LoadStateDict read sizes only from tensors that have them: a failed tensor or
// one with too few dimensions is an error, never an index panic on a nil shape.
func TestInitAndLoadOnFailedTensors(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	failed := torch.FromSlice(s, []float32{1, 2, 3}, 2, 2)
	require.ErrorIs(t, failed.Err(), torch.ErrInvalid)

	r := nn.KaimingUniform(failed, 0)
	assert.Equal(t, failed.Err(), r.Err(), "KaimingUniform passes the tensor's own error on")
	require.Error(t, nn.DefaultInit(failed, nil))

	vec := torch.Zeros(s, []int64{5}, torch.Float32)
	err := nn.KaimingUniform(vec, 0).Err()
	assert.EqualError(t, err, "nn: fan in of a tensor of shape [5]: it needs at least 2 dimensions, (out, in, kernel...)")
	assert.Error(t, nn.DefaultInit(torch.Scalar(s, 0, torch.Float32), nil))

	empty := torch.Zeros(s, []int64{0, 3}, torch.Float32)
	assert.Same(t, empty, nn.KaimingUniform(empty, 0), "zero-element tensors are left alone, as in PyTorch")

	lin := nn.NewLinear(3, 2, true)
	defer nn.Close(lin)
	require.NoError(t, nn.Err(lin))
	err = nn.LoadStateDict(lin, []nn.Named{{Name: "weight", Tensor: failed}}, false)
	var le *nn.LoadError
	require.True(t, errors.As(err, &le), "got %v", err)
	assert.Empty(t, le.Mismatched, "a failed tensor is not a shape mismatch")
	require.Len(t, le.Failed, 1)
	assert.Contains(t, le.Failed[0], "weight: torch: FromSlice: invalid argument: 3 values do not fill shape [2 2]")
}
