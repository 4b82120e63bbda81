package train_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/csad/train"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
	"github.com/csad-go/csad/torch/torchtest"
)

// lgstGoldenPath is the golden testdata/gen_lgst_golden.py makes on this machine
// (torchtest.GoldenDir): its training steps' last bits depend on the CPU's kernels.
func lgstGoldenPath(t testing.TB) string {
	return filepath.Join(torchtest.GoldenDir(t, "../../testdata", "gen_lgst_golden.py"), "lgst.safetensors")
}

// lgstGolden loads the golden file into s, pins the thread count and builds the golden's network:
// the small config with PyTorch's initial encoder, teacher, student and autoencoder weights.
func lgstGolden(t *testing.T, s *torch.Scope) (map[string]*torch.Tensor, map[string]string, *csad.Network) {
	t.Helper()
	g, meta := torchtest.Golden(t, s, lgstGoldenPath(t))
	t.Cleanup(torchtest.UseGoldenThreads(t, meta))
	cfg := csad.SmallConfig(5)
	pyCfg, err := csad.ParseConfig([]byte(meta["config"]))
	require.NoError(t, err)
	require.Equal(t, cfg, pyCfg, "the golden was made for another config")
	net, err := csad.NewInitialised(cfg, 1)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, net.Close()) })
	loadPrefixed(t, net.Encoder, g, "init/encoder.")
	loadPrefixed(t, net.Teacher, g, "init/teacher.")
	loadPrefixed(t, net.Student, g, "init/local_st.")
	loadPrefixed(t, net.AE, g, "init/autoencoder.")
	return g, meta, net
}

// lgstInputs are the golden script's random inputs, drawn from the same LibTorch stream.
type lgstInputs struct {
	train, val [][]float32
	steps      [2]struct{ image, aug, penalty *torch.Tensor }
}

func drawLGSTInputs(t *testing.T, s *torch.Scope, g map[string]*torch.Tensor, meta map[string]string) lgstInputs {
	t.Helper()
	seed, err := strconv.ParseUint(meta["input_seed"], 10, 64)
	require.NoError(t, err)
	require.NoError(t, torch.ManualSeed(seed))
	img := func(n int64) *torch.Tensor { return torch.Randn(s, []int64{n, 3, 256, 256}, torch.Float32) }
	trainT, valT := img(5), img(3)
	torchtest.RequireBitwise(t, "first training image values", trainT.Reshape(-1).Narrow(0, 0, 8), g["input_head"])
	var in lgstInputs
	in.train, in.val = split(t, trainT), split(t, valT)
	for k := range in.steps {
		in.steps[k].image, in.steps[k].aug = img(2), img(2)
		if k == 0 {
			in.steps[k].penalty = img(1)
		}
	}
	return in
}

// split turns a (N, 3, S, S) tensor into N preprocessed image slices.
func split(t *testing.T, x *torch.Tensor) [][]float32 {
	t.Helper()
	v, err := x.Float32s()
	require.NoError(t, err)
	n := int(x.Shape()[0])
	per := len(v) / n
	out := make([][]float32, n)
	for i := range out {
		out[i] = v[i*per : (i+1)*per]
	}
	return out
}

func int64s(t *testing.T, x *torch.Tensor) []int {
	t.Helper()
	v, err := x.Int64s()
	require.NoError(t, err)
	out := make([]int, len(v))
	for i, e := range v {
		out[i] = int(e)
	}
	return out
}

// The teacher statistics of five images in batches of two (the last of one), each pass in the
// order the golden script's shuffles drew, equal PyTorch's official teacher_normalization bit
// for bit, and land in the network's buffers.
func TestTeacherStatsMatchesPyTorch(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	g, meta, net := lgstGolden(t, s)
	in := drawLGSTInputs(t, s, g, meta)
	orderMean, orderStd := int64s(t, g["stats/perm_mean"]), int64s(t, g["stats/perm_std"])
	require.NotEqual(t, orderMean, orderStd, "the two passes should be shuffled differently")

	live := torch.Live()
	require.NoError(t, train.TeacherStatsOrdered(context.Background(), net, in.train, 2, orderMean, orderStd))
	assert.Equal(t, live.Tensors, torch.Live().Tensors, "tensors left behind")
	torchtest.RequireBitwise(t, "teacher mean", net.TeacherMean, g["stats/mean"])
	torchtest.RequireBitwise(t, "teacher std", net.TeacherStd, g["stats/std"])

	// The seeded entry point is the documented shuffle; a different order changes the grouping
	// into batches, and with it the last bits.
	rng := rand.New(rand.NewPCG(7, train.TeacherStatsStream))
	pm, ps := rng.Perm(5), rng.Perm(5)
	require.NoError(t, train.TeacherStatsOrdered(context.Background(), net, in.train, 2, pm, ps))
	wantMean, wantStd := s.Own(net.TeacherMean.Clone()), s.Own(net.TeacherStd.Clone())
	require.NoError(t, train.TeacherStats(context.Background(), net, in.train, 2, 7))
	torchtest.RequireBitwise(t, "seeded teacher mean", net.TeacherMean, wantMean)
	torchtest.RequireBitwise(t, "seeded teacher std", net.TeacherStd, wantStd)
	d, err := torchtest.Compare(net.TeacherStd, g["stats/std"])
	require.NoError(t, err)
	t.Logf("another shuffle (%v / %v): std %v from the golden's", pm, ps, d)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, train.TeacherStats(ctx, net, in.train, 2, 7), context.Canceled)
}

// Two LGST iterations from PyTorch's starting weights and teacher statistics on the same
// batches (step 1 with a penalty image, step 2 without; Adam's state carried over; StepLR with
// step size int(0.95·2) = 1, so step 2 runs at lr 2e-5; dropout masks from the same seeded
// generator) give PyTorch's losses and updated student and autoencoder weights within 1e-5
// relative; the largest error is logged (0: bitwise equal). The validation map quantiles of the
// trained networks then equal PyTorch's bit for bit. Each step leaves no tensor behind but Adam's
// two moments per parameter, and Close frees those.
func TestLGSTStepsAndQuantilesMatchPyTorch(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	g, meta, net := lgstGolden(t, s)
	in := drawLGSTInputs(t, s, g, meta)
	require.NoError(t, net.TeacherMean.Assign(g["stats/mean"]))
	require.NoError(t, net.TeacherStd.Assign(g["stats/std"]))
	dropSeed, err := strconv.ParseUint(meta["dropout_seed"], 10, 64)
	require.NoError(t, err)
	iters, err := strconv.Atoi(meta["iterations"])
	require.NoError(t, err)

	cfg := train.DefaultLGSTTrainConfig()
	cfg.Iterations = iters
	tr, err := train.NewLGSTTrainer(net, cfg)
	require.NoError(t, err)
	defer tr.Close()
	params := int64(len(nn.Parameters(net.Student)) + len(nn.Parameters(net.AE)))
	require.Equal(t, int64(14+28), params)

	var worst float64
	var bitwise, compared int
	check := func(what string, got float64, want *torch.Tensor) {
		w, err := want.Item()
		require.NoError(t, err, what)
		rel := math.Abs(got-w) / math.Abs(w)
		if rel != 0 {
			t.Logf("%s: relative error %.3g", what, rel)
		}
		worst = max(worst, rel)
		assert.LessOrEqual(t, rel, stepTolerance, "%s = %v, PyTorch %v", what, got, w)
	}
	for k, b := range in.steps {
		pre := fmt.Sprintf("step%d/", k+1)
		require.NoError(t, torch.ManualSeed(dropSeed+uint64(k+1)))
		live := torch.Live()
		got, err := tr.Step(b.image, b.aug, b.penalty)
		require.NoError(t, err, pre)
		after := torch.Live()
		wantTensors := live.Tensors
		if k == 0 {
			wantTensors += 2 * params // Adam's moments appear with the first step
		}
		assert.Equal(t, wantTensors, after.Tensors, "%s live tensors (before: %v, after: %v)", pre, live, after)
		assert.Equal(t, live.Scopes, after.Scopes, "%s open scopes", pre)

		losses := map[string]float64{"total": got.Total, "st": got.ST, "hard": got.Hard, "ae": got.AE, "stae": got.STAE}
		if b.penalty != nil {
			losses["penalty"] = got.Penalty
			assert.Greater(t, got.Penalty, 0.0)
		} else {
			assert.Zero(t, got.Penalty)
			_, has := g[pre+"penalty"]
			assert.False(t, has, "the golden has a penalty loss for a step without one")
		}
		for name, v := range losses {
			check(pre+name, v, g[pre+name])
		}
		wantLR, err := strconv.ParseFloat(meta[fmt.Sprintf("lr_after_step%d", k+1)], 64)
		require.NoError(t, err)
		assert.Equal(t, wantLR, tr.Optimizer().LR(), "%s learning rate after the step", pre)

		for _, part := range []struct {
			prefix string
			l      nn.Layer
		}{{"local_st.", net.Student}, {"autoencoder.", net.AE}} {
			for _, n := range nn.StateDict(part.l) {
				want, ok := g[pre+part.prefix+n.Name]
				require.True(t, ok, "%s%s has no PyTorch value", part.prefix, n.Name)
				rel, same := relErr(t, pre+part.prefix+n.Name, n.Tensor, want)
				compared++
				if same {
					bitwise++
				} else {
					t.Logf("%s%s%s: relative error %.3g", pre, part.prefix, n.Name, rel)
				}
				worst = max(worst, rel)
				assert.LessOrEqual(t, rel, stepTolerance, "%s%s%s", pre, part.prefix, n.Name)
			}
		}
	}
	t.Logf("largest relative error against PyTorch: %.3g (losses and weights); %d of %d weight tensors bitwise equal",
		worst, bitwise, compared)

	live := torch.Live()
	q, err := train.MapQuantiles(context.Background(), net, in.val)
	require.NoError(t, err)
	assert.Equal(t, live.Tensors, torch.Live().Tensors, "map quantiles left tensors behind")
	assert.True(t, net.Student.Training() && net.AE.Training(), "MapQuantiles must restore the training modes")
	for _, c := range []struct {
		name string
		got  float32
		buf  *torch.Tensor
	}{{"st_start", q.STStart, net.QSTStart}, {"st_end", q.STEnd, net.QSTEnd},
		{"ae_start", q.AEStart, net.QAEStart}, {"ae_end", q.AEEnd, net.QAEEnd}} {
		want := g["q/"+c.name]
		torchtest.RequireBitwise(t, "buffer q_"+c.name, c.buf, want)
		w, err := want.Float32s()
		require.NoError(t, err)
		assert.Equal(t, w[0], c.got, "returned q_%s", c.name)
	}
	assert.Less(t, q.STStart, q.STEnd)
	assert.Less(t, q.AEStart, q.AEEnd)

	trained := torch.Live()
	require.NoError(t, tr.Close())
	require.NoError(t, tr.Close(), "Close is idempotent")
	assert.Equal(t, trained.Tensors-2*params, torch.Live().Tensors, "Close leaves Adam's moments behind")
}

// Bad configurations and batches are rejected before anything runs, with the cause in the
// message: no tensor is left behind and no weight changes.
func TestLGSTTrainerInputErrors(t *testing.T) {
	_, err := train.NewLGSTTrainer(nil, train.DefaultLGSTTrainConfig())
	require.ErrorContains(t, err, "needs a network")

	zeroed, err := csad.NewNetwork(csad.SmallConfig(3))
	require.NoError(t, err)
	defer zeroed.Close()
	_, err = train.NewLGSTTrainer(zeroed, train.DefaultLGSTTrainConfig())
	require.ErrorContains(t, err, "compute the teacher statistics (train.TeacherStats) before LGST training")

	net, err := csad.NewInitialised(csad.SmallConfig(3), 1)
	require.NoError(t, err)
	defer net.Close()
	for _, c := range []struct {
		name    string
		edit    func(c *train.LGSTTrainConfig)
		message string
	}{
		{"zero lr", func(c *train.LGSTTrainConfig) { c.LR = 0 }, "learning rate must be > 0"},
		{"negative decay", func(c *train.LGSTTrainConfig) { c.WeightDecay = -1 }, "weight decay ≥ 0"},
		{"one iteration", func(c *train.LGSTTrainConfig) { c.Iterations = 1 }, "want at least 2 iterations"},
		{"quantile 1", func(c *train.LGSTTrainConfig) { c.HardQuantile = 1 }, "hard-mining quantile 1 must lie in (0, 1)"},
		{"NaN weight", func(c *train.LGSTTrainConfig) { c.Weights.AE = math.NaN() }, "loss weights"},
	} {
		cfg := train.DefaultLGSTTrainConfig()
		c.edit(&cfg)
		_, err := train.NewLGSTTrainer(net, cfg)
		require.Error(t, err, c.name)
		assert.Contains(t, err.Error(), c.message, c.name)
	}

	tr, err := train.NewLGSTTrainer(net, train.DefaultLGSTTrainConfig())
	require.NoError(t, err)
	defer tr.Close()
	assert.Equal(t, 57000, tr.Scheduler().StepSize, "StepLR step int(0.95·60000)")
	assert.Equal(t, 0.1, tr.Scheduler().Gamma)
	assert.Equal(t, 2e-4, tr.Optimizer().LR())
	s := torch.NewScope()
	defer s.Close()
	img := func(b, h int64) *torch.Tensor { return torch.Zeros(s, []int64{b, 3, h, h}, torch.Float32) }
	ok := img(2, 256)
	huge := torch.Zeros(s, []int64{1, 3, 256, 256}, torch.Float32).Expand(257, 3, 256, 256) // a view: no memory
	cases := []struct {
		name                string
		image, aug, penalty *torch.Tensor
		message             string
	}{
		{"nil image", nil, ok, nil, "LGST image batch is nil"},
		{"nil aug", ok, nil, nil, "LGST augmented image batch is nil"},
		{"small image", img(2, 128), ok, nil, "LGST image batch must be float32 (B, 3, 256, 256)"},
		{"int aug", ok, torch.Zeros(s, []int64{2, 3, 256, 256}, torch.Int64), nil, "augmented image batch must be float32"},
		{"aug count", ok, img(1, 256), nil, "augmented batch has 1 images, image batch 2"},
		{"grey penalty", ok, ok, torch.Zeros(s, []int64{1, 1, 256, 256}, torch.Float32), "LGST penalty batch must be float32 (B, 3, 256, 256)"},
		{"quantile limit", huge, huge, nil, "more than torch.quantile's limit of 2^24; use batches of at most 256 images"},
	}
	var saved []*torch.Tensor
	for _, l := range []nn.Layer{net.Student, net.AE} {
		for _, n := range nn.StateDict(l) {
			saved = append(saved, s.Own(n.Tensor.Clone()))
		}
	}
	for _, c := range cases {
		live := torch.Live()
		_, err := tr.Step(c.image, c.aug, c.penalty)
		require.Error(t, err, c.name)
		assert.Contains(t, err.Error(), c.message, c.name)
		assert.Regexp(t, `^train: `, err.Error(), c.name)
		assert.Equal(t, live.Tensors, torch.Live().Tensors, "%s: tensors left behind", c.name)
	}
	i := 0
	for _, l := range []nn.Layer{net.Student, net.AE} {
		for _, n := range nn.StateDict(l) {
			torchtest.RequireBitwise(t, n.Name+" after rejected batches", n.Tensor, saved[i])
			i++
		}
	}
}

// Statistics and quantiles reject inputs they cannot use, naming the cause, before computing.
func TestLGSTStatsInputErrors(t *testing.T) {
	net, err := csad.NewInitialised(csad.SmallConfig(3), 1)
	require.NoError(t, err)
	defer net.Close()
	ctx := context.Background()
	good := make([]float32, 3*256*256)
	require.ErrorContains(t, train.TeacherStats(ctx, nil, [][]float32{good}, 2, 1), "need a network")
	require.ErrorContains(t, train.TeacherStats(ctx, net, nil, 2, 1), "teacher statistics need at least one image")
	require.ErrorContains(t, train.TeacherStats(ctx, net, [][]float32{good}, 0, 1), "batch size 0")
	require.ErrorContains(t, train.TeacherStats(ctx, net, [][]float32{good, good[:10]}, 2, 1),
		"image 1 has 10 values, want 3×256×256 = 196608")
	_, err = train.MapQuantiles(ctx, net, nil)
	require.ErrorContains(t, err, "map quantiles need at least one image")
	many := make([][]float32, 4097) // one shared slice: the check comes before any work
	for i := range many {
		many[i] = good
	}
	live := torch.Live()
	_, err = train.MapQuantiles(ctx, net, many)
	require.ErrorContains(t, err, "4097 validation images are 16781312 values, more than torch.quantile's limit of 2^24; use at most 4096 images")
	assert.Equal(t, live.Tensors, torch.Live().Tensors)
}

// The default configuration is the official one; its schedule drops the rate once, after
// int(0.95·60000) = 57000 steps.
func ExampleDefaultLGSTTrainConfig() {
	c := train.DefaultLGSTTrainConfig()
	fmt.Printf("Adam lr %g, weight decay %g, %d iterations, hard quantile %g, weights %+v\n",
		c.LR, c.WeightDecay, c.Iterations, c.HardQuantile, c.Weights)
	// Output: Adam lr 0.0002, weight decay 0.0001, 60000 iterations, hard quantile 0.999, weights {ST:1 AE:1 STAE:1}
}
