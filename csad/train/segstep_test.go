package train_test

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/train"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
	"github.com/csad-go/csad/torch/torchtest"
)

// stepTolerance is the brief's bound on the relative error of a training step against PyTorch
// (the step is in fact bitwise equal; the test reports the largest error it saw).
const stepTolerance = 1e-5

// loadPrefixed loads the golden tensors named prefix+key into l's state dict (strict).
func loadPrefixed(t *testing.T, l nn.Layer, g map[string]*torch.Tensor, prefix string) {
	t.Helper()
	var sd []nn.Named
	for name, v := range g {
		if key, ok := strings.CutPrefix(name, prefix); ok {
			sd = append(sd, nn.Named{Name: key, Tensor: v})
		}
	}
	require.NoError(t, nn.LoadStateDict(l, sd, true), "loading %s*", prefix)
}

// labelMap enlarges a stored 32×32 class map ×8 by nearest interpolation, as the golden script.
func labelMap(low *torch.Tensor) *torch.Tensor {
	return low.To(torch.Float32).Unsqueeze(1).Interpolate(256, 256, torch.Nearest, false).Squeeze(1).To(torch.Int64)
}

// relErr is max |got − want| over max |want| of a tensor (0 when bitwise equal).
func relErr(t *testing.T, what string, got, want *torch.Tensor) (rel float64, bitwise bool) {
	t.Helper()
	d, err := torchtest.Compare(got, want)
	require.NoError(t, err, what)
	if d.Bitwise {
		return 0, true
	}
	require.True(t, want.DType().IsFloat(), "%s: integer tensors must match exactly: %v", what, d)
	w, err := want.Float64s()
	require.NoError(t, err)
	var scale float64
	for _, v := range w {
		scale = max(scale, math.Abs(v))
	}
	if scale == 0 {
		return math.Inf(1), false
	}
	return d.MaxAbs / scale, false
}

// Two segmentor iterations from PyTorch's starting weights on the same images and label maps
// (step 1 sup-only with the intended cross-entropy, step 2 the full objective with the official
// one, Adam's state carried over) give PyTorch's loss terms, updated weights and BatchNorm
// running statistics (momentum 0.999; num_batches_tracked + 2) within 1e-5 relative; the
// largest error is logged (it is 0: bitwise equal). Each step leaves no tensor behind but
// Adam's two moments per parameter, and Close frees those.
func TestSegmentorStepMatchesPyTorch(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	g, meta := torchtest.Golden(t, s, goldenPath(t))
	defer torchtest.UseGoldenThreads(t, meta)()
	cfg := csad.SmallConfig(5)
	pyCfg, err := csad.ParseConfig([]byte(meta["config"]))
	require.NoError(t, err)
	require.Equal(t, cfg, pyCfg, "the golden was made for another config")
	net, err := csad.NewInitialised(cfg, 1)
	require.NoError(t, err)
	defer net.Close()
	loadPrefixed(t, net.Encoder, g, "init/encoder.")
	loadPrefixed(t, net.Segmentor, g, "init/segmentor.")

	seed, err := strconv.ParseUint(meta["input_seed"], 10, 64)
	require.NoError(t, err)
	require.NoError(t, torch.ManualSeed(seed))
	var images [4]*torch.Tensor // sup1, unsup1, sup2, unsup2: the golden script's draw order
	for i := range images {
		images[i] = torch.Randn(s, []int64{4, 3, 256, 256}, torch.Float32)
	}
	torchtest.RequireBitwise(t, "first sup image values", images[0].Reshape(-1).Narrow(0, 0, 8), g["step1/sup_image_head"])

	tr, err := train.NewSegTrainer(net.Encoder, net.Segmentor, train.DefaultSegTrainConfig())
	require.NoError(t, err)
	defer tr.Close()
	params := int64(len(nn.Parameters(net.Segmentor)))
	var worst float64
	var bitwise, compared int
	for k, step := range []struct{ supOnly, official bool }{{true, false}, {false, true}} {
		pre := fmt.Sprintf("step%d/", k+1)
		batch := train.SupBatch{Images: images[2*k], GT: labelMap(g[pre+"gt_low"]), RandGT: labelMap(g[pre+"randgt_low"])}
		s.Own(batch.GT)
		s.Own(batch.RandGT)
		live := torch.Live()
		tr.Loss.OfficialCE = step.official
		got, err := tr.Step(batch, images[2*k+1], step.supOnly)
		require.NoError(t, err, pre)
		after := torch.Live()
		wantTensors := live.Tensors
		if k == 0 {
			wantTensors += 2 * params // Adam's moments appear with the first step
		}
		assert.Equal(t, wantTensors, after.Tensors, "%s live tensors (before: %v, after: %v)", pre, live, after)
		assert.Equal(t, live.Scopes, after.Scopes, "%s open scopes", pre)

		for name, v := range map[string]float64{"total": got.Total, "ce": got.CE, "focal": got.Focal, "dice": got.Dice,
			"hist": got.Hist, "entropy_sup": got.EntropySup, "entropy_unsup": got.EntropyUnsup} {
			want, err := g[pre+name].Item()
			require.NoError(t, err)
			rel := math.Abs(v-want) / math.Abs(want)
			if rel != 0 {
				t.Logf("%s%s: relative error %.3g", pre, name, rel)
			}
			worst = max(worst, rel)
			assert.LessOrEqual(t, rel, stepTolerance, "%s%s = %v, PyTorch %v", pre, name, v, want)
		}
		sd := nn.StateDict(net.Segmentor)
		require.Len(t, sd, 56)
		for _, n := range sd {
			want, ok := g[pre+"segmentor."+n.Name]
			require.True(t, ok, "%s has no PyTorch value", n.Name)
			rel, same := relErr(t, pre+n.Name, n.Tensor, want)
			compared++
			if same {
				bitwise++
			} else {
				t.Logf("%s%s: relative error %.3g", pre, n.Name, rel)
			}
			worst = max(worst, rel)
			assert.LessOrEqual(t, rel, stepTolerance, "%s%s", pre, n.Name)
		}
	}
	t.Logf("largest relative error against PyTorch: %.3g (loss terms and segmentor state); %d of %d state tensors bitwise equal",
		worst, bitwise, compared)
	trained := torch.Live()
	require.NoError(t, tr.Close())
	assert.Equal(t, trained.Tensors-2*params, torch.Live().Tensors, "Close leaves Adam's moments behind")
}

// Bad batches are rejected before anything runs, with the cause in the message: no tensor is
// left behind and no BatchNorm statistic changes.
func TestSegTrainerInputErrors(t *testing.T) {
	_, err := train.NewSegTrainer(nil, nil, train.DefaultSegTrainConfig())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "needs an encoder and a segmentor")
	net, err := csad.NewInitialised(csad.SmallConfig(3), 1)
	require.NoError(t, err)
	defer net.Close()
	bad := train.DefaultSegTrainConfig()
	bad.LR = 0
	_, err = train.NewSegTrainer(net.Encoder, net.Segmentor, bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "learning rate must be > 0")

	tr, err := train.NewSegTrainer(net.Encoder, net.Segmentor, train.DefaultSegTrainConfig())
	require.NoError(t, err)
	defer tr.Close()
	s := torch.NewScope()
	defer s.Close()
	img := func(b, h int64) *torch.Tensor { return torch.Zeros(s, []int64{b, 3, h, h}, torch.Float32) }
	lab := func(b, h int64, d torch.DType) *torch.Tensor { return torch.Zeros(s, []int64{b, h, h}, d) }
	ok := train.SupBatch{Images: img(2, 256), GT: lab(2, 256, torch.Int64), RandGT: lab(2, 256, torch.Int64)}
	with := func(f func(b *train.SupBatch)) train.SupBatch { b := ok; f(&b); return b }
	cases := []struct {
		name    string
		sup     train.SupBatch
		unsup   *torch.Tensor
		message string
	}{
		{"nil sup images", with(func(b *train.SupBatch) { b.Images = nil }), img(2, 256), "sup images are nil"},
		{"nil unsup", ok, nil, "unsup images are nil"},
		{"grey images", with(func(b *train.SupBatch) { b.Images = torch.Zeros(s, []int64{2, 1, 256, 256}, torch.Float32) }),
			img(2, 256), "sup images must be float32 (B, 3, H, W)"},
		{"unsup size", ok, img(2, 128), "unsup images are 128×128, sup images 256×256"},
		{"unsup batch", ok, img(3, 256), "unsup batch has 3 images, sup batch 2"},
		{"nil gt", with(func(b *train.SupBatch) { b.GT = nil }), img(2, 256), "sup batch gt is nil"},
		{"float gt", with(func(b *train.SupBatch) { b.GT = lab(2, 256, torch.Float32) }), img(2, 256),
			"sup batch gt must be int64 (B, H, W) = (2, 256, 256)"},
		{"rand_gt size", with(func(b *train.SupBatch) { b.RandGT = lab(2, 64, torch.Int64) }), img(2, 256),
			"sup batch rand_gt must be int64"},
		{"labels beyond the classes", with(func(b *train.SupBatch) { b.GT = torch.Full(s, []int64{2, 256, 256}, 3, torch.Int64) }),
			img(2, 256), "sup batch gt labels span [3, 3] but the segmentor has 3 classes"},
		{"negative rand_gt", with(func(b *train.SupBatch) { b.RandGT = torch.Full(s, []int64{2, 256, 256}, -1, torch.Int64) }),
			img(2, 256), "sup batch rand_gt labels span [-1, -1]"},
	}
	var saved []*torch.Tensor
	for _, n := range nn.StateDict(net.Segmentor) {
		saved = append(saved, s.Own(n.Tensor.Clone()))
	}
	for _, c := range cases {
		live := torch.Live()
		_, err := tr.Step(c.sup, c.unsup, false)
		require.Error(t, err, c.name)
		assert.Contains(t, err.Error(), c.message, c.name)
		assert.Regexp(t, `^train: `, err.Error(), c.name)
		assert.Equal(t, live.Tensors, torch.Live().Tensors, "%s: tensors left behind", c.name)
	}
	for i, n := range nn.StateDict(net.Segmentor) {
		torchtest.RequireBitwise(t, "segmentor "+n.Name+" after rejected batches", n.Tensor, saved[i])
	}
}
