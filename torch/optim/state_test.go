package optim_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/checkpoint"
	"github.com/csad-go/csad/torch/optim"
)

// Loading a state into an optimizer whose parameter failed is an error naming the parameter, not
// a comparison against the nil shape of a failed tensor; a malformed "nesterov" is refused.
func TestLoadStateDictChecksParameters(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	p := torch.Ones(s, []int64{2, 2}, torch.Float32).SetRequiresGrad(true)
	loss := p.Pow(2).Sum()
	require.NoError(t, loss.Backward())

	adam := optim.NewAdam([]*torch.Tensor{p}, optim.DefaultAdam())
	defer adam.Close()
	require.NoError(t, adam.Step())
	st, err := adam.StateDict()
	require.NoError(t, err)

	bad := torch.FromSlice(s, []float32{1, 2, 3}, 2, 2)
	require.Error(t, bad.Err())
	other := optim.NewAdam([]*torch.Tensor{bad}, optim.DefaultAdam())
	defer other.Close()
	err = other.LoadStateDict(st)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "optim: parameter 0: torch: FromSlice: invalid argument: 3 values do not fill shape [2 2]")

	sgd := optim.NewSGD([]*torch.Tensor{p}, optim.SGDConfig{LR: 0.1, Momentum: 0.9})
	defer sgd.Close()
	require.NoError(t, sgd.Step())
	sst, err := sgd.StateDict()
	require.NoError(t, err)
	groups, ok := sst.Get("param_groups")
	require.True(t, ok)
	list, ok := groups.(checkpoint.List)
	require.True(t, ok)
	g, ok := list[0].(*checkpoint.Dict)
	require.True(t, ok)
	g.Set("nesterov", int64(1))
	assert.EqualError(t, sgd.LoadStateDict(sst), `optim: param group "nesterov" is int64, not a bool`)
}
