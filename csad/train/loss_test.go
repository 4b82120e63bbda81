package train_test

import (
	"math"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/csad/train"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/torchtest"
)

// goldenPath is the golden testdata/gen_train_golden_seg.py makes on this machine
// (torchtest.GoldenDir): its gradients' and steps' last bits depend on the CPU's kernels.
func goldenPath(t testing.TB) string {
	return filepath.Join(torchtest.GoldenDir(t, "../../testdata", "gen_train_golden_seg.py"), "train_seg.safetensors")
}

var lossCases = []string{"full", "absent"} // absent: class 4 missing from the target

type lossFn func(z, target *torch.Tensor) (*torch.Tensor, error)

var losses = map[string]lossFn{
	"ce":          func(z, t *torch.Tensor) (*torch.Tensor, error) { return train.CrossEntropy(z, t, false) },
	"ce_official": func(z, t *torch.Tensor) (*torch.Tensor, error) { return train.CrossEntropy(z, t, true) },
	"focal":       train.Focal,
	"dice":        train.Dice,
	"hist":        train.Hist,
	"entropy":     func(z, _ *torch.Tensor) (*torch.Tensor, error) { return train.Entropy(z) },
}

// labels reads a stored uint8 class map as the int64 map the losses take.
func labels(s *torch.Scope, g map[string]*torch.Tensor, name string) *torch.Tensor {
	return s.Own(g[name].To(torch.Int64))
}

// leaf is a copy of x that records gradients.
func leaf(x *torch.Tensor) *torch.Tensor { return x.Clone().SetRequiresGrad(true) }

// Every loss and its gradient with respect to the logits equal PyTorch's bit for bit (tolerance:
// none), both cross-entropy variants included, on N = 5 with every class present and on N = 6
// with a class absent from the target.
func TestLossesMatchPyTorch(t *testing.T) {
	runtime.LockOSThread() // autograd orders backward by per-thread node numbers (see SegTrainer.Step)
	defer runtime.UnlockOSThread()
	s := torch.NewScope()
	defer s.Close()
	g, meta := torchtest.Golden(t, s, goldenPath(t))
	defer torchtest.UseGoldenThreads(t, meta)()
	for _, c := range lossCases {
		pre := "loss/" + c + "/"
		target, randGT := labels(s, g, pre+"target"), labels(s, g, pre+"randgt")
		for name, fn := range losses {
			in, y := g[pre+"z"], target
			if name == "hist" {
				in, y = g[pre+"zu"], randGT
			}
			x := leaf(in)
			v, err := fn(x, y)
			require.NoError(t, err, "%s %s", c, name)
			require.NoError(t, v.Backward(), "%s %s", c, name)
			grad, err := x.Grad(s)
			require.NoError(t, err)
			require.NotNil(t, grad, "%s %s: no gradient reached the logits", c, name)
			torchtest.RequireBitwise(t, c+" "+name, v, g[pre+name])
			torchtest.RequireBitwise(t, c+" "+name+" gradient", grad, g[pre+name+"/grad"])
		}
	}
}

// SegLoss's weighted terms and the gradients of its total with respect to both logits equal
// PyTorch's bit for bit (tolerance: none) in both phases and with both cross-entropies; in the
// sup-only phase no gradient reaches the unsup logits.
func TestSegLossMatchesPyTorch(t *testing.T) {
	runtime.LockOSThread() // z_s's four gradients must be summed in PyTorch's order
	defer runtime.UnlockOSThread()
	s := torch.NewScope()
	defer s.Close()
	g, meta := torchtest.Golden(t, s, goldenPath(t))
	defer torchtest.UseGoldenThreads(t, meta)()
	variants := map[string][]string{
		"full":   {"sup_only_intended", "sup_only_official", "full_intended", "full_official"},
		"absent": {"sup_only_intended", "full_official"},
	}
	for _, c := range lossCases {
		pre := "loss/" + c + "/"
		target, randGT := labels(s, g, pre+"target"), labels(s, g, pre+"randgt")
		for _, v := range variants[c] {
			supOnly := v[:8] == "sup_only"
			cfg := train.DefaultSegLossConfig()
			cfg.OfficialCE = v[len(v)-8:] == "official"
			zs, zu := leaf(g[pre+"z"]), leaf(g[pre+"zu"])
			terms, err := cfg.SegLoss(zs, target, zu, randGT, supOnly)
			require.NoError(t, err, v)
			require.NoError(t, terms.Total.Backward())
			want := "seg/" + c + "/" + v + "/"
			for name, got := range map[string]*torch.Tensor{"total": terms.Total, "ce": terms.CE, "focal": terms.Focal,
				"dice": terms.Dice, "hist": terms.Hist, "entropy_sup": terms.EntropySup, "entropy_unsup": terms.EntropyUnsup} {
				torchtest.RequireBitwise(t, want+name, got, g[want+name])
			}
			gz, err := zs.Grad(s)
			require.NoError(t, err)
			require.NotNil(t, gz)
			torchtest.RequireBitwise(t, want+"grad_z", gz, g[want+"grad_z"])
			gu, err := zu.Grad(s)
			require.NoError(t, err)
			if supOnly {
				assert.Nil(t, gu, "%s: the unsup terms are logged only, yet a gradient reached z_u", v)
				continue
			}
			require.NotNil(t, gu)
			torchtest.RequireBitwise(t, want+"grad_zu", gu, g[want+"grad_zu"])
		}
	}
}

// The losses are the formulas of spec §4.2: a float64 evaluation of each formula, written from
// the spec in plain Go, agrees within 1e-5 relative (float32 rounding of the softmax and of the
// sums) on both golden cases. The absent class's Dice weight is 1e5 before normalisation.
func TestLossesAreTheSpecFormulas(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	g, meta := torchtest.Golden(t, s, goldenPath(t))
	defer torchtest.UseGoldenThreads(t, meta)()
	for _, c := range lossCases {
		pre := "loss/" + c + "/"
		target, randGT := labels(s, g, pre+"target"), labels(s, g, pre+"randgt")
		ref := func(zName string, lab *torch.Tensor) specRef {
			z, err := g[pre+zName].Float64s()
			require.NoError(t, err)
			y, err := lab.Int64s()
			require.NoError(t, err)
			sh := g[pre+zName].Shape()
			return newSpecRef(z, y, int(sh[0]), int(sh[1]), int(sh[2]*sh[3]))
		}
		sup, unsup := ref("z", target), ref("zu", randGT)
		want := map[string]float64{"ce": sup.ce(false), "ce_official": sup.ce(true), "focal": sup.focal(),
			"dice": sup.dice(), "hist": unsup.hist(), "entropy": sup.entropy()}
		for name, fn := range losses {
			in, y := g[pre+"z"], target
			if name == "hist" {
				in, y = g[pre+"zu"], randGT
			}
			v, err := fn(in, y)
			require.NoError(t, err)
			got, err := v.Item()
			require.NoError(t, err)
			assert.InEpsilon(t, want[name], got, 1e-5, "%s %s", c, name)
		}
		if c == "absent" {
			w := sup.diceWeights()
			assert.InEpsilon(t, 1e5/(1e5+sumInv(sup.counts())), w[4], 1e-9, "absent class weight")
			assert.Greater(t, w[4], 0.999, "the absent class does not dominate the Dice weights")
		}
	}
}

func sumInv(counts []float64) float64 {
	var s float64
	for _, c := range counts {
		if c > 0 {
			s += 1 / (c + 1e-5)
		}
	}
	return s
}

// specRef evaluates §4.2 in float64: p[b][c][i] softmax over classes, y[b][i] labels.
type specRef struct {
	b, n, hw int
	z, p     [][][]float64
	y        [][]int64
}

func newSpecRef(z []float64, y []int64, b, n, hw int) specRef {
	r := specRef{b: b, n: n, hw: hw}
	for bi := range b {
		zb := make([][]float64, n)
		for c := range n {
			zb[c] = z[(bi*n+c)*hw : (bi*n+c+1)*hw]
		}
		r.z = append(r.z, zb)
		r.p = append(r.p, softmax(zb))
		r.y = append(r.y, y[bi*hw:(bi+1)*hw])
	}
	return r
}

// softmax over the first index of v[c][i].
func softmax(v [][]float64) [][]float64 {
	out := make([][]float64, len(v))
	for c := range v {
		out[c] = make([]float64, len(v[c]))
	}
	for i := range v[0] {
		m := math.Inf(-1)
		for c := range v {
			m = max(m, v[c][i])
		}
		var sum float64
		for c := range v {
			out[c][i] = math.Exp(v[c][i] - m)
			sum += out[c][i]
		}
		for c := range v {
			out[c][i] /= sum
		}
	}
	return out
}

func (r specRef) pixels() float64 { return float64(r.b * r.hw) }

func (r specRef) ce(official bool) float64 {
	var l float64
	for b := range r.b {
		q := r.p[b]
		if official {
			q = softmax(r.p[b]) // the probabilities taken for logits
		}
		for i, y := range r.y[b] {
			l -= math.Log(q[y][i])
		}
	}
	return l / r.pixels()
}

func (r specRef) focal() float64 {
	const s = 1e-5
	var l float64
	for b := range r.b {
		for i, y := range r.y[b] {
			pt := s
			for c := range r.n {
				yc := s / float64(r.n-1)
				if int64(c) == y {
					yc = 1 - s
				}
				pt += yc * r.p[b][c][i]
			}
			l -= (1 - pt) * (1 - pt) * math.Log(pt)
		}
	}
	return l / r.pixels()
}

func (r specRef) counts() []float64 {
	n := make([]float64, r.n)
	for b := range r.b {
		for _, y := range r.y[b] {
			n[y]++
		}
	}
	return n
}

func (r specRef) diceWeights() []float64 {
	w := make([]float64, r.n)
	var sum float64
	for c, k := range r.counts() {
		w[c] = 1 / (k + 1e-5)
		sum += w[c]
	}
	for c := range w {
		w[c] /= sum
	}
	return w
}

func (r specRef) dice() float64 {
	w := r.diceWeights()
	var l float64
	for b := range r.b {
		for c := range r.n {
			var py, p, y float64
			for i, lab := range r.y[b] {
				p += r.p[b][c][i]
				if int64(c) == lab {
					py += r.p[b][c][i]
					y++
				}
			}
			l += w[c] * (1 - (2*py+1e-5)/(p+y+2e-5))
		}
	}
	return l / float64(r.b*r.n)
}

func (r specRef) hist() float64 {
	var l float64
	for b := range r.b {
		for c := 1; c < r.n; c++ {
			var ht, hp float64
			for i, lab := range r.y[b] {
				hp += r.p[b][c][i]
				if int64(c) == lab {
					ht++
				}
			}
			l += math.Abs(ht/float64(r.hw) - hp/float64(r.hw))
		}
	}
	return l / float64(r.b)
}

func (r specRef) entropy() float64 {
	var l float64
	for b := range r.b {
		for c := range r.n {
			for _, p := range r.p[b][c] {
				l -= p * math.Log(p+1e-5)
			}
		}
	}
	return l / float64(r.b*r.n*r.hw)
}

// Bad inputs are errors that name the cause, never panics or LibTorch messages.
func TestLossInputErrors(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	z := torch.Zeros(s, []int64{2, 3, 4, 4}, torch.Float32)
	y := torch.Zeros(s, []int64{2, 4, 4}, torch.Int64)
	cases := []struct {
		name    string
		z, y    *torch.Tensor
		message string
	}{
		{"nil logits", nil, y, "logits are nil"},
		{"nil target", z, nil, "target is nil"},
		{"3-d logits", torch.Zeros(s, []int64{2, 3, 4}, torch.Float32), y, "logits must be float32 (B, N, H, W)"},
		{"float64 logits", torch.Zeros(s, []int64{2, 3, 4, 4}, torch.Float64), y, "logits must be float32"},
		{"one class", torch.Zeros(s, []int64{2, 1, 4, 4}, torch.Float32), y, "at least 2 classes"},
		{"float target", z, torch.Zeros(s, []int64{2, 4, 4}, torch.Float32), "target must be int64 (B, H, W) = (2, 4, 4)"},
		{"target size", z, torch.Zeros(s, []int64{2, 4, 5}, torch.Int64), "target must be int64 (B, H, W) = (2, 4, 4)"},
		{"target batch", z, torch.Zeros(s, []int64{1, 4, 4}, torch.Int64), "to match the logits [2 3 4 4]"},
		{"label too large", z, torch.Full(s, []int64{2, 4, 4}, 3, torch.Int64), "target labels span [3, 3] but the logits have 3 classes"},
		{"negative label", z, torch.Full(s, []int64{2, 4, 4}, -1, torch.Int64), "target labels span [-1, -1]"},
		{"unscoped logits", nil, y, "belong to no scope"},
	}
	unscoped := torch.Zeros(nil, []int64{2, 3, 4, 4}, torch.Float32)
	defer unscoped.Close()
	cases[len(cases)-1].z = unscoped
	for _, c := range cases {
		for name, fn := range losses {
			if name == "entropy" && (c.z == z || c.y != y) {
				continue // entropy has no target
			}
			v, err := fn(c.z, c.y)
			require.Error(t, err, "%s: %s", c.name, name)
			assert.Nil(t, v)
			assert.Contains(t, err.Error(), c.message, "%s: %s", c.name, name)
			assert.Regexp(t, `^train: `, err.Error())
		}
	}
	cfg := train.DefaultSegLossConfig()
	_, err := cfg.SegLoss(z, y, torch.Zeros(s, []int64{2, 4, 4, 4}, torch.Float32), y, false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sup logits have 3 classes, unsup logits 4")
	_, err = cfg.SegLoss(z, y, z, torch.Zeros(s, []int64{1, 4, 4}, torch.Int64), false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "train: unsup: target must be int64 (B, H, W) = (2, 4, 4)")
}

// The weights are the official ones, and each term is its loss times its weight.
func TestSegLossWeights(t *testing.T) {
	assert.Equal(t, train.SegLossWeights{CE: 0.5, Focal: 10, Dice: 1, Hist: 10, Entropy: 1}, train.DefaultSegLossWeights())
	assert.False(t, train.DefaultSegLossConfig().OfficialCE, "the default cross-entropy is the intended one")
	s := torch.NewScope()
	defer s.Close()
	g, meta := torchtest.Golden(t, s, goldenPath(t))
	defer torchtest.UseGoldenThreads(t, meta)()
	pre := "loss/full/"
	target, randGT := labels(s, g, pre+"target"), labels(s, g, pre+"randgt")
	cfg := train.SegLossConfig{Weights: train.SegLossWeights{CE: 2, Focal: 3, Dice: 5, Hist: 7, Entropy: 11}}
	terms, err := cfg.SegLoss(g[pre+"z"], target, g[pre+"zu"], randGT, false)
	require.NoError(t, err)
	got, err := terms.Values()
	require.NoError(t, err)
	one := func(name string) float64 {
		v, err := g[pre+name].Item()
		require.NoError(t, err)
		return v
	}
	ent, err := train.Entropy(g[pre+"zu"])
	require.NoError(t, err)
	entU, err := ent.Item()
	require.NoError(t, err)
	assert.InEpsilon(t, 2*one("ce"), got.CE, 1e-6)
	assert.InEpsilon(t, 3*one("focal"), got.Focal, 1e-6)
	assert.InEpsilon(t, 5*one("dice"), got.Dice, 1e-6)
	assert.InEpsilon(t, 7*one("hist"), got.Hist, 1e-6)
	assert.InEpsilon(t, 11*one("entropy"), got.EntropySup, 1e-6)
	assert.InEpsilon(t, 11*entU, got.EntropyUnsup, 1e-6)
	assert.InEpsilon(t, got.CE+got.Focal+got.Dice+got.Hist+got.EntropySup+got.EntropyUnsup, got.Total, 1e-6)
}
