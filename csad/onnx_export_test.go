package csad_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/internal/onnxpb"
	"github.com/csad-go/csad/onnx"
	"github.com/csad-go/csad/ort"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/torchtest"
)

// tolerances bound one backend's outputs against another's: the scores (fused, lgst,
// patch_hist) relative to max(|score|, 1), the fused score being in standard deviations; the
// maps likewise element by element; the segmentation as the fraction of pixels of equal class.
type tolerances struct{ score, lgst, maps, segAgree float64 }

// onnxTol is the bar for ONNX Runtime's CPU provider against LibTorch's
// Network.Forward. Measured (docs/onnx.md#accuracy-fp32): lgst ≤ 3e-7, maps ≤ 3e-7,
// patch_hist ≤ 2e-6 where the labels agree, the fused score ≤ 2e-7 beyond what lgst_std makes of
// lgst's rounding, 4 pixels in 524 288 of another class at most.
var onnxTol = tolerances{score: 1e-4, lgst: 1e-4, maps: 1e-4, segAgree: 0.999}

// fp16Tol is for the FP16 graph, measured under ONNX Runtime's CPU provider, which runs a float16
// node with a float16 kernel or, lacking one, in float32 between casts it inserts, so every trunk
// activation is rounded to float16 as on a GPU (docs/onnx.md#fp16). On the reduced golden model (random
// weights, logits standardised so that classes compete closely): lgst within 2e-4, the maps 3e-4,
// 97.9 % of the pixels of equal class; on a trained reduced model (make demo) lgst and maps
// 2.4e-3, 99.99 %. The patch-histogram term, a Mahalanobis distance that a single pixel can move
// by 10⁻² standard deviations, follows the labels and is checked against the sample's own labels
// (agreement.own) rather than bounded against float32.
var fp16Tol = tolerances{score: 1e-2, lgst: 5e-3, maps: 5e-3, segAgree: 0.95}

// checkONNX runs testdata/check_onnx.py (onnx.checker full check, strict shape inference, the
// input/outputs of the contract) on an exported model.
func checkONNX(t *testing.T, data []byte, cfg csad.Config, opts csad.ExportOptions) {
	t.Helper()
	out, err := runCheckONNX(t, data, cfg, opts)
	require.NoError(t, err, "check_onnx.py %+v:\n%s", opts, out)
	t.Logf("check_onnx %+v: %s", opts, strings.TrimSpace(out))
}

func runCheckONNX(t *testing.T, data []byte, cfg csad.Config, opts csad.ExportOptions) (string, error) {
	t.Helper()
	dir := t.TempDir()
	model := filepath.Join(dir, "model.onnx")
	require.NoError(t, os.WriteFile(model, data, 0o644))
	opset := int64(opts.Opset)
	if opset == 0 {
		opset = csad.ONNXDefaultOpset
	}
	ins, outs := csad.ONNXSignature(cfg, opts)
	type tensor struct {
		Name  string  `json:"name"`
		DType string  `json:"dtype"`
		Dims  []int64 `json:"dims"`
	}
	var tin, tout []tensor
	for _, v := range ins {
		tin = append(tin, tensor(v))
	}
	for _, v := range outs {
		tout = append(tout, tensor(v))
	}
	expect, err := json.Marshal(map[string]any{
		"opset": opset, "ir_version": onnx.IRVersionFor(opset), "batch": csad.ONNXBatchDim,
		"inputs": tin, "outputs": tout, "metadata": []string{csad.ONNXHeaderKey, csad.ONNXCategoryKey},
	})
	require.NoError(t, err)
	exp := filepath.Join(dir, "expect.json")
	require.NoError(t, os.WriteFile(exp, expect, 0o644))
	cmd := exec.Command("/usr/bin/python3", "../testdata/check_onnx.py", model, exp)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if errors.Is(err, exec.ErrNotFound) || strings.Contains(string(out), "No module named 'onnx'") {
		t.Fatalf("the ONNX checker needs Debian's python3-onnx in /usr/bin/python3: run `make setup` (%v)\n%s", err, out)
	}
	return string(out), err
}

// The checker script catches what it claims to: an intermediate shape that contradicts ONNX's
// inference (here a Resize output one pixel short, which inference cannot compute itself but
// the Concat after it contradicts), a wrong output type, a missing metadata key.
func TestONNXCheckerCatchesMistakes(t *testing.T) {
	net := smallNetwork(t)
	opts := csad.ExportOptions{Maps: true}
	data, err := csad.ExportONNX(net, smallHeader(t, net), opts)
	require.NoError(t, err)
	edit := func(f func(m *onnxpb.ModelProto)) []byte {
		var m onnxpb.ModelProto
		require.NoError(t, proto.Unmarshal(data, &m))
		f(&m)
		b, err := proto.Marshal(&m)
		require.NoError(t, err)
		return b
	}
	cases := map[string][]byte{
		"Can't merge shape info": edit(func(m *onnxpb.ModelProto) {
			for _, v := range m.Graph.ValueInfo {
				if v.GetName() == "teacher.resize2" {
					v.GetType().GetTensorType().GetShape().GetDim()[3].Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 63}
				}
			}
		}),
		"Inferred elem type differs": edit(func(m *onnxpb.ModelProto) {
			m.Graph.Output[4].GetType().GetTensorType().ElemType = proto.Int32(int32(onnx.Int64))
		}),
		"metadata_props lacks": edit(func(m *onnxpb.ModelProto) { m.MetadataProps = m.MetadataProps[:1] }),
	}
	for want, b := range cases {
		out, err := runCheckONNX(t, b, net.Config(), opts)
		require.Error(t, err, want)
		require.Contains(t, out, want)
	}
}

// randomImages draws b different preprocessed-like inputs (standard normal, as the golden
// inputs) from a PCG generator seeded with seed.
func randomImages(seed uint64, b int, size int64) []float32 {
	r := rand.New(rand.NewPCG(seed, 0x6f6e6e78))
	x := make([]float32, int64(b)*3*size*size)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// result is one forward pass's outputs per sample, from either backend.
type result struct {
	score, lgst, ph []float64
	seg             []int64 // (B, S, S)
	local, global   []float32
	amap            []float32 // ONNX only: (B, 1, F, F)
}

func torchResult(t *testing.T, net *csad.Network, x []float32, b int64) result {
	t.Helper()
	s := torch.NewInferenceScope()
	defer s.Close()
	size := net.Config().ImageSize
	o, err := net.Forward(torch.FromSlice(s, x, b, 3, size, size))
	require.NoError(t, err)
	var r result
	for _, p := range []struct {
		dst *[]float64
		t   *torch.Tensor
	}{{&r.score, o.Score}, {&r.lgst, o.LGST}, {&r.ph, o.PatchHist}} {
		*p.dst, err = p.t.Float64s()
		require.NoError(t, err)
	}
	r.seg, err = o.Labels.Int64s()
	require.NoError(t, err)
	r.local, err = o.Local.Float32s()
	require.NoError(t, err)
	r.global, err = o.Global.Float32s()
	require.NoError(t, err)
	return r
}

func ortResult(t *testing.T, sess *ort.Session, x []float32, b int64, size int64, maps bool) result {
	t.Helper()
	out, err := sess.Run(map[string]ort.Tensor{csad.ONNXInput: {Shape: []int64{b, 3, size, size}, Float32: x}})
	require.NoError(t, err)
	f64 := func(name string) []float64 {
		v, ok := out[name]
		require.True(t, ok, "no output %s", name)
		require.Equal(t, []int64{b}, v.Shape, name)
		d := make([]float64, len(v.Float32))
		for i, f := range v.Float32 {
			d[i] = float64(f)
		}
		return d
	}
	r := result{score: f64(csad.ONNXScore), lgst: f64(csad.ONNXLGST), ph: f64(csad.ONNXPatchHist)}
	if maps {
		seg := out[csad.ONNXSegmentation]
		require.Equal(t, []int64{b, size, size}, seg.Shape)
		require.NotNil(t, seg.Int32, "segmentation is int32")
		r.seg = make([]int64, len(seg.Int32))
		for i, v := range seg.Int32 {
			r.seg[i] = int64(v)
		}
		f := size / 4
		for _, m := range []struct {
			name string
			dst  *[]float32
			dims []int64
		}{{csad.ONNXLocalMap, &r.local, []int64{b, f, f}}, {csad.ONNXGlobalMap, &r.global, []int64{b, f, f}},
			{csad.ONNXAnomalyMap, &r.amap, []int64{b, 1, f, f}}} {
			v := out[m.name]
			require.Equal(t, m.dims, v.Shape, m.name)
			*m.dst = v.Float32
		}
	}
	return r
}

// detector is the network's patch-histogram statistics in float64, to recompute a sample's
// patch-histogram term and fused score from its own label map. One pixel that changes class moves
// a quadrant histogram by 2⁻¹⁴, and Σ⁺ of a detector fitted on few images turns that into a
// patch-histogram change of up to 10⁻² standard deviations (measured on the reduced model), far
// beyond float32 rounding. So a sample whose label map differs from the reference by a pixel
// (two backends' convolutions round differently, and an argmax near a tie flips) is checked
// against its own labels instead: the distances, z-scores and fusion must still be exact.
type detector struct {
	classes, size                        int
	hm, hinv, pm, pinv                   []float64
	hvm, hvs, pvm, pvs, phm, phs, lm, ls float64
}

func newDetector(t *testing.T, net *csad.Network) *detector {
	t.Helper()
	cfg := net.Config()
	d := &detector{classes: int(cfg.Segmentor.Classes), size: int(cfg.ImageSize)}
	det := net.Detector
	for _, p := range []struct {
		dst *[]float64
		t   *torch.Tensor
	}{{&d.hm, det.HistMean}, {&d.hinv, det.HistInvCov}, {&d.pm, det.PatchHistMean}, {&d.pinv, det.PatchHistInvCov}} {
		v, err := p.t.Float64s()
		require.NoError(t, err)
		*p.dst = v
	}
	for _, p := range []struct {
		dst *float64
		t   *torch.Tensor
	}{{&d.hvm, det.HistValMean}, {&d.hvs, det.HistValStd}, {&d.pvm, det.PatchHistValMean}, {&d.pvs, det.PatchHistValStd},
		{&d.phm, net.PatchHistMean}, {&d.phs, net.PatchHistStd}, {&d.lm, net.LGSTMean}, {&d.ls, net.LGSTStd}} {
		v, err := p.t.Item()
		require.NoError(t, err)
		*p.dst = v
	}
	return d
}

func mahalanobis64(h, mu, invcov []float64) float64 {
	k := len(h)
	q := 0.0
	for i := range k {
		s := 0.0
		for j := range k {
			s += invcov[i*k+j] * (h[j] - mu[j])
		}
		q += (h[i] - mu[i]) * s
	}
	return math.Sqrt(q)
}

// patchHist is z(d256) + z(d128) of one sample's labels (S×S, row-major), quadrants TL, BL, TR, BR.
func (d *detector) patchHist(labels []int64) float64 {
	n, s, hh := d.classes, d.size, d.size/2
	whole, quads := make([]float64, n), make([]float64, 4*n)
	for r := range s {
		for c := range s {
			l := int(labels[r*s+c])
			whole[l]++
			q := 0
			if r >= hh {
				q++
			}
			if c >= hh {
				q += 2
			}
			quads[q*n+l]++
		}
	}
	for i := range whole {
		whole[i] /= float64(s * s)
	}
	for i := range quads {
		quads[i] /= float64(hh * hh)
	}
	return (mahalanobis64(whole, d.hm, d.hinv)-d.hvm)/d.hvs + (mahalanobis64(quads, d.pm, d.pinv)-d.pvm)/d.pvs
}

func (d *detector) fuse(lgst, ph float64) float64 { return (lgst-d.lm)/d.ls + (ph-d.phm)/d.phs }

// agreement is how far one result is from a reference, all relative to max(|reference|, 1).
type agreement struct {
	score, ph float64 // over the samples whose label maps are identical
	// scoreExcess is the fused score's difference beyond what its formula, z(lgst) + z(ph), makes
	// of the lgst and patch_hist differences: lgst_std divides lgst's rounding, and the test
	// models' lgst_std (calibrated on four random images) is small enough to turn lgst's float32
	// rounding (≈3e-7 relative) into 1e-4 of the fused score. The golden tests bound it the same way.
	scoreExcess float64
	lgst, maps  float64 // over all samples (the maps do not depend on the labels)
	// own is the worst difference, over the samples whose labels differ, of patch_hist and score
	// from their recomputation (detector) with the sample's own labels and lgst.
	own             float64
	pixels, flipped int // pixels compared and pixels of another class
	flippedSamples  int
	scoreAll        float64 // the fused score over all samples, for the record
}

func relErr(a, b float64) float64 { return math.Abs(a-b) / max(math.Abs(b), 1) }

// agree compares got with want sample by sample; without label maps (no Maps output) every sample
// counts as identically labelled.
func agree(t *testing.T, d *detector, got, want result) agreement {
	t.Helper()
	var a agreement
	b := len(want.score)
	require.Len(t, got.score, b)
	px := d.size * d.size
	for i := range b {
		a.lgst = max(a.lgst, relErr(got.lgst[i], want.lgst[i]))
		a.scoreAll = max(a.scoreAll, relErr(got.score[i], want.score[i]))
		flips := 0
		if got.seg != nil && want.seg != nil {
			require.Len(t, got.seg, b*px)
			require.Len(t, want.seg, b*px)
			for j := i * px; j < (i+1)*px; j++ {
				if got.seg[j] != want.seg[j] {
					flips++
				}
			}
			a.pixels += px
			a.flipped += flips
		}
		if flips == 0 {
			a.score = max(a.score, relErr(got.score[i], want.score[i]))
			a.ph = max(a.ph, relErr(got.ph[i], want.ph[i]))
			explained := math.Abs(got.lgst[i]-want.lgst[i])/d.ls + math.Abs(got.ph[i]-want.ph[i])/d.phs
			a.scoreExcess = max(a.scoreExcess, (math.Abs(got.score[i]-want.score[i])-explained)/max(math.Abs(want.score[i]), 1))
			continue
		}
		a.flippedSamples++
		ph := d.patchHist(got.seg[i*px : (i+1)*px])
		a.own = max(a.own, relErr(got.ph[i], ph), relErr(got.score[i], d.fuse(got.lgst[i], got.ph[i])))
	}
	if got.local != nil && want.local != nil {
		require.Len(t, got.local, len(want.local))
		for i := range want.local {
			a.maps = max(a.maps, relErr(float64(got.local[i]), float64(want.local[i])),
				relErr(float64(got.global[i]), float64(want.global[i])))
			if got.amap != nil {
				a.maps = max(a.maps, relErr(float64(got.amap[i]), float64(want.local[i])+float64(want.global[i])))
			}
		}
	}
	return a
}

func (a agreement) segAgree() float64 {
	if a.pixels == 0 {
		return 1
	}
	return 1 - float64(a.flipped)/float64(a.pixels)
}

// requireAgree checks a against tol: on the samples with identical label maps the
// patch-histogram score within tol.score and the fused score within tol.score beyond what the
// lgst and patch_hist differences make of it (agreement.scoreExcess), lgst and the maps everywhere, the label maps equal on
// at least tol.segAgree of the pixels, and every sample with other labels consistent with them to
// onnxTol.score (the statistics part runs in float32 in every variant).
func requireAgree(t *testing.T, what string, a agreement, tol tolerances) {
	t.Helper()
	t.Logf("%s: score %.2g (%.2g beyond the lgst and patch_hist differences), patch_hist %.2g (samples with equal labels), lgst %.2g, maps %.2g; labels: %d of %d pixels differ (%.4f %% equal) in %d samples, whose scores are within %.2g of their own labels' (fused score over all samples %.2g)",
		what, a.score, a.scoreExcess, a.ph, a.lgst, a.maps, a.flipped, a.pixels, 100*a.segAgree(), a.flippedSamples, a.own, a.scoreAll)
	require.LessOrEqual(t, a.scoreExcess, tol.score, "%s: fused score", what)
	require.LessOrEqual(t, a.ph, tol.score, "%s: patch_hist", what)
	require.LessOrEqual(t, a.lgst, tol.lgst, "%s: lgst", what)
	require.LessOrEqual(t, a.maps, tol.maps, "%s: maps", what)
	require.GreaterOrEqual(t, a.segAgree(), tol.segAgree, "%s: segmentation", what)
	require.LessOrEqual(t, a.own, onnxTol.score, "%s: scores of the samples with other labels, against those labels", what)
}

// sliceResult is sample i of a batched result.
func sliceResult(r result, i, b int) result {
	part := func(n int) (int, int) { return i * n, (i + 1) * n }
	o := result{score: r.score[i : i+1], lgst: r.lgst[i : i+1], ph: r.ph[i : i+1]}
	if r.seg != nil {
		lo, hi := part(len(r.seg) / b)
		o.seg = r.seg[lo:hi]
		lo, hi = part(len(r.local) / b)
		o.local, o.global = r.local[lo:hi], r.global[lo:hi]
		if r.amap != nil {
			o.amap = r.amap[lo:hi]
		}
	}
	return o
}

func newSession(t *testing.T, data []byte) *ort.Session {
	t.Helper()
	sess, err := ort.NewSession(data, ort.Options{Threads: 2})
	require.NoError(t, err, "ONNX Runtime (run `make setup` if the library is missing)")
	t.Cleanup(func() { require.NoError(t, sess.Close()) })
	return sess
}

// onnxAgainstTorch exports net, checks that ONNX Runtime gives LibTorch's outputs at batch 1
// and at batch 8 (eight different images), and that every sample of the batch-8 run equals its
// own batch-1 run: the detector is batched for real, not sample 0 broadcast to the batch.
// singles of the images are also run alone through LibTorch.
func onnxAgainstTorch(t *testing.T, net *csad.Network, h csad.Header, opts csad.ExportOptions, singles int) {
	cfg := net.Config()
	size := cfg.ImageSize
	det := newDetector(t, net)
	t0 := time.Now()
	data, err := csad.ExportONNX(net, h, opts)
	require.NoError(t, err)
	t.Logf("export %+v: %d bytes in %v", opts, len(data), time.Since(t0).Round(time.Millisecond))
	sess := newSession(t, data)
	require.Equal(t, h.Category, sess.Metadata()[csad.ONNXCategoryKey])
	t.Logf("lgst_std %.3g, patch_hist_std %.3g", det.ls, det.phs)

	const batch = 8
	x := randomImages(20240828, batch, size)
	t0 = time.Now()
	ob := ortResult(t, sess, x, batch, size, opts.Maps)
	t.Logf("onnx runtime batch %d: %v", batch, time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	tb := torchResult(t, net, x, batch)
	t.Logf("libtorch batch %d: %v", batch, time.Since(t0).Round(time.Millisecond))
	requireAgree(t, "batch 8, onnx runtime vs libtorch", agree(t, det, ob, tb), onnxTol)

	// The samples must differ in their patch-histogram terms, or broadcasting sample 0 would pass.
	lo, hi := slicesMinMax(tb.ph)
	require.Greater(t, hi-lo, 1e3*onnxTol.score, "the test images give (nearly) equal patch-histogram scores %v", tb.ph)
	lo, hi = slicesMinMax(tb.score)
	require.Greater(t, hi-lo, 1e3*onnxTol.score, "the test images give (nearly) equal scores %v", tb.score)

	one := 3 * size * size
	var all agreement
	for i := range batch {
		xi := x[int64(i)*one : int64(i+1)*one]
		o1 := ortResult(t, sess, xi, 1, size, opts.Maps)
		a := agree(t, det, sliceResult(ob, i, batch), o1)
		all.score, all.ph, all.lgst, all.maps = max(all.score, a.score), max(all.ph, a.ph), max(all.lgst, a.lgst), max(all.maps, a.maps)
		all.own, all.pixels, all.flipped = max(all.own, a.own), all.pixels+a.pixels, all.flipped+a.flipped
		all.flippedSamples += a.flippedSamples
		if i < singles {
			requireAgree(t, fmt.Sprintf("batch 1 (image %d), onnx runtime vs libtorch", i), agree(t, det, o1, torchResult(t, net, xi, 1)),
				onnxTol)
		}
	}
	requireAgree(t, "onnx runtime, each sample of batch 8 vs the same image alone", all, onnxTol)
}

// useThreads sets LibTorch's intra-op threads (ONNX Runtime gets the same count) and returns
// the restore.
func useThreads(n int) func() {
	prev := torch.NumThreads()
	torch.SetNumThreads(n)
	return func() { torch.SetNumThreads(prev) }
}

func slicesMinMax(v []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

func smallHeader(t *testing.T, net *csad.Network) csad.Header {
	t.Helper()
	h, err := csad.NewHeader(net, "noise", csad.Provenance{Tool: "test", Created: "2024-08-28T00:00:00Z"})
	require.NoError(t, err)
	return h
}

// Every variant of the reduced model passes onnx.checker (full check) and strict shape
// inference with the contract's input and outputs; the bytes are deterministic and carry the
// header.
func TestONNXExportChecker(t *testing.T) {
	net := smallNetwork(t)
	h := smallHeader(t, net)
	for _, fp16 := range []bool{false, true} {
		for _, maps := range []bool{false, true} {
			for _, opset := range []int{13, 17} {
				opts := csad.ExportOptions{Opset: opset, FP16: fp16, Maps: maps}
				data, err := csad.ExportONNX(net, h, opts)
				require.NoError(t, err)
				checkONNX(t, data, net.Config(), opts)
				again, err := csad.ExportONNX(net, h, opts)
				require.NoError(t, err)
				require.Equal(t, data, again, "two exports of the same model differ")

				info, err := onnx.Inspect(data)
				require.NoError(t, err)
				require.Equal(t, int64(opset), info.Opset())
				require.Equal(t, "csad-go", info.Producer)
				require.Contains(t, info.Doc, "CSAD")
				var back csad.Header
				require.NoError(t, json.Unmarshal([]byte(info.Metadata[csad.ONNXHeaderKey]), &back))
				require.Equal(t, h, back)
				require.Equal(t, "noise", info.Metadata[csad.ONNXCategoryKey])
				ins, outs := csad.ONNXSignature(net.Config(), opts)
				for i, v := range append(info.Inputs, info.Outputs...) {
					want := append(ins, outs...)[i]
					require.Equal(t, want.Name, v.Name)
					require.Equal(t, want.DType, v.DType.String())
					require.Equal(t, append(onnx.Shape{onnx.Sym(csad.ONNXBatchDim)}, onnx.Dims(want.Dims...)...), v.Shape, v.Name)
				}
				// Casts: the one-hot histogram, the int32 segmentation with maps, and with FP16 the
				// input to float16 and five trunk ends (segmentor, teacher, student ×2, autoencoder)
				// back to float32.
				casts := 1
				if maps {
					casts++
				}
				if fp16 {
					casts += 6
				}
				require.Equal(t, casts, info.Ops["Cast"], "Cast nodes")
			}
		}
	}
	// The default opset is 17.
	data, err := csad.ExportONNX(net, h, csad.ExportOptions{})
	require.NoError(t, err)
	info, err := onnx.Inspect(data)
	require.NoError(t, err)
	require.Equal(t, int64(17), info.Opset())
	require.Equal(t, int64(8), info.IRVersion)
}

// The reduced golden model under ONNX Runtime scores as LibTorch, batched and alone, at both
// ends of the opset range.
func TestONNXExportMatchesLibTorch(t *testing.T) {
	net := smallNetwork(t)
	h := smallHeader(t, net)
	defer useThreads(2)()
	for _, opset := range []int{17, 13} {
		t.Run("opset"+string(rune('0'+opset/10))+string(rune('0'+opset%10)), func(t *testing.T) {
			onnxAgainstTorch(t, net, h, csad.ExportOptions{Opset: opset, Maps: true}, 2)
		})
	}
	// Without maps the three scores come from the same operators: ONNX Runtime gives the same.
	x := randomImages(7, 2, 256)
	var res [2]result
	for i, maps := range []bool{false, true} {
		data, err := csad.ExportONNX(net, h, csad.ExportOptions{Maps: maps})
		require.NoError(t, err)
		res[i] = ortResult(t, newSession(t, data), x, 2, 256, maps)
	}
	require.Equal(t, res[1].score, res[0].score)
	require.Equal(t, res[1].lgst, res[0].lgst)
	require.Equal(t, res[1].ph, res[0].ph)
}

// Fast: fast mode's graph passes the checker in every variant, has no BatchNormalization left,
// the teacher's projection as two convolutions on the encoder's maps and fewer Resize nodes,
// and scores as LibTorch's exact forward pass within onnxTol, batched and alone.
func TestONNXExportFast(t *testing.T) {
	net := smallNetwork(t)
	h := smallHeader(t, net)
	defer useThreads(2)()
	exact, err := csad.ExportONNX(net, h, csad.ExportOptions{Maps: true})
	require.NoError(t, err)
	exactInfo, err := onnx.Inspect(exact)
	require.NoError(t, err)
	for _, fp16 := range []bool{false, true} {
		opts := csad.ExportOptions{Opset: 13, FP16: fp16, Maps: true, Fast: true}
		data, err := csad.ExportONNX(net, h, opts)
		require.NoError(t, err)
		checkONNX(t, data, net.Config(), opts)
		info, err := onnx.Inspect(data)
		require.NoError(t, err)
		require.Contains(t, info.Doc, "fast mode's graph")
		require.Zero(t, info.Ops["BatchNormalization"], "BatchNormalization nodes left in the fast graph")
		require.Equal(t, exactInfo.Ops["Conv"]+1, info.Ops["Conv"], "Conv nodes: the teacher's projection is two")
		require.Less(t, info.Ops["Resize"], exactInfo.Ops["Resize"], "Resize nodes: those to a map's own size go")
		t.Logf("fast graph (FP16 %v): %d Conv, %d Resize (exact: %d, %d)", fp16, info.Ops["Conv"], info.Ops["Resize"], exactInfo.Ops["Conv"], exactInfo.Ops["Resize"])
	}
	onnxAgainstTorch(t, net, h, csad.ExportOptions{Maps: true, Fast: true}, 2)
}

// FP16: float16 trunks and float32 statistics, within fp16Tol of LibTorch's float32.
func TestONNXExportFP16(t *testing.T) {
	net := smallNetwork(t)
	h := smallHeader(t, net)
	defer useThreads(2)()
	data, err := csad.ExportONNX(net, h, csad.ExportOptions{FP16: true, Maps: true})
	require.NoError(t, err)
	sess := newSession(t, data)
	const batch = 8
	x := randomImages(20240828, batch, 256)
	a := agree(t, newDetector(t, net), ortResult(t, sess, x, batch, 256, true), torchResult(t, net, x, batch))
	requireAgree(t, "fp16, batch 8, onnx runtime vs libtorch float32", a, fp16Tol)
	// FP16 really is reduced precision: a graph that cast nothing would agree to float32 rounding.
	require.Greater(t, a.maps, 1e-5, "FP16 maps agree to float32 rounding: is the trunk float16 at all?")
}

// The paper-size model (testdata/gen_onnx_golden.py): checker and ONNX Runtime against LibTorch,
// the plain graph and fast mode's.
func TestONNXExportPaper(t *testing.T) {
	if testing.Short() {
		t.Skip("paper-size export: about a minute (exports, checker, 20 paper-size forward passes)")
	}
	dir := torchtest.GoldenDir(t, "../testdata", "gen_onnx_golden.py")
	net, err := csad.ImportUnified(filepath.Join(dir, "model_full.pth"))
	require.NoError(t, err)
	defer net.Close()
	require.Equal(t, csad.PaperConfig(5), net.Config())
	h, err := csad.NewHeader(net, "paper", csad.Provenance{Tool: "test", Created: "2024-08-28T00:00:00Z"})
	require.NoError(t, err)
	defer useThreads(2)()
	for _, opts := range []csad.ExportOptions{{Opset: 13, FP16: true}} {
		data, err := csad.ExportONNX(net, h, opts)
		require.NoError(t, err)
		checkONNX(t, data, net.Config(), opts)
	}
	for _, opts := range []csad.ExportOptions{{Opset: 17, Maps: true}, {Opset: 17, Maps: true, Fast: true}} {
		data, err := csad.ExportONNX(net, h, opts)
		require.NoError(t, err)
		checkONNX(t, data, net.Config(), opts)
		onnxAgainstTorch(t, net, h, opts, 1)
	}
}

func TestONNXExportErrors(t *testing.T) {
	net := smallNetwork(t)
	h := smallHeader(t, net)
	_, err := csad.ExportONNX(nil, h, csad.ExportOptions{})
	require.ErrorContains(t, err, "nil network")
	for _, opset := range []int{-1, 11, 12, 18, 21} {
		_, err := csad.ExportONNX(net, h, csad.ExportOptions{Opset: opset})
		require.ErrorIs(t, err, onnx.ErrOpset, "opset %d", opset)
		require.ErrorContains(t, err, "use 13..17")
	}
	bad := h
	bad.Config.Segmentor.Classes = 6
	_, err = csad.ExportONNX(net, bad, csad.ExportOptions{})
	require.ErrorContains(t, err, "segmentor.classes 6 ≠ 5")
	// A zero header is filled from the network.
	data, err := csad.ExportONNX(net, csad.Header{}, csad.ExportOptions{})
	require.NoError(t, err)
	info, err := onnx.Inspect(data)
	require.NoError(t, err)
	var back csad.Header
	require.NoError(t, json.Unmarshal([]byte(info.Metadata[csad.ONNXHeaderKey]), &back))
	require.Equal(t, net.Config(), back.Config)
	// A closed network is an error naming the weight, not a panic.
	closed, err := csad.ImportUnified("../testdata/golden/model_small.pth")
	require.NoError(t, err)
	require.NoError(t, closed.Close())
	_, err = csad.ExportONNX(closed, h, csad.ExportOptions{})
	require.ErrorContains(t, err, "csad: export onnx: read encoder.conv1.weight")
	// Truncated files are refused by Inspect (and by ONNX Runtime).
	_, err = onnx.Inspect(data[:len(data)-len(data)/3])
	require.ErrorIs(t, err, onnx.ErrInvalid)
	_, err = ort.NewSession(data[:len(data)/2], ort.Options{})
	require.Error(t, err)
}

// BenchmarkONNXGraph times csad-go's graph, and its fast mode's graph (ExportOptions.Fast),
// against the one torch.onnx.export traces from the same weights (testdata/export_torch_onnx.py,
// the official export route), all under ONNX Runtime's CPU provider with 2 threads at batch 1,
// interleaved ours, fast, torch's, ours, ... so that load from other processes hits them alike,
// and reports the medians of the paired ratios (ours ÷ torch's and fast ÷ torch's; below 1 is
// faster) and each graph's median latency. The three must agree to 1e-4 (the fast graph's lgst,
// torch's score).
//
//	go test -run XXX -bench ONNXGraph -benchtime 20x ./csad/
func BenchmarkONNXGraph(b *testing.B) {
	for _, size := range []string{"small", "paper"} {
		b.Run(size, func(b *testing.B) {
			pth := "../testdata/golden/model_small.pth"
			if size == "paper" {
				if testing.Short() {
					b.Skip("paper size in -short mode")
				}
				pth = filepath.Join(torchtest.GoldenDir(b, "../testdata", "gen_onnx_golden.py"), "model_full.pth")
			}
			net, err := csad.ImportUnified(pth)
			require.NoError(b, err)
			defer net.Close()
			ours, err := csad.ExportONNX(net, csad.Header{Category: "bench"}, csad.ExportOptions{})
			require.NoError(b, err)
			fast, err := csad.ExportONNX(net, csad.Header{Category: "bench"}, csad.ExportOptions{Fast: true})
			require.NoError(b, err)
			theirs := filepath.Join(b.TempDir(), "torch.onnx")
			cmd := exec.Command("/usr/bin/python3", "../testdata/export_torch_onnx.py", pth, string(net.Config().JSON()), theirs)
			cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
			out, err := cmd.CombinedOutput()
			require.NoError(b, err, "torch.onnx.export (Debian's python3-torch and python3-onnx: make setup):\n%s", out)
			tdata, err := os.ReadFile(theirs)
			require.NoError(b, err)

			open := func(data []byte) *ort.Session {
				s, err := ort.NewSession(data, ort.Options{Threads: 2})
				require.NoError(b, err)
				return s
			}
			// Each graph's check output is compared with ours: the fast graph's lgst (its fused
			// score moves with any segmentation pixel that flips, docs/numerics.md), torch's score.
			graphs := []struct {
				name, check, against string
				sess                 *ort.Session
			}{{"ours", csad.ONNXScore, csad.ONNXScore, open(ours)}, {"fast", csad.ONNXLGST, csad.ONNXLGST, open(fast)}, {"torch", "output", csad.ONNXScore, open(tdata)}}
			for _, g := range graphs {
				defer g.sess.Close()
			}
			s := net.Config().ImageSize
			in := map[string]ort.Tensor{csad.ONNXInput: {Shape: []int64{1, 3, s, s}, Float32: randomImages(5, 1, s)}}
			run := func(sess *ort.Session) (time.Duration, map[string]ort.Tensor) {
				t0 := time.Now()
				o, err := sess.Run(in)
				require.NoError(b, err)
				return time.Since(t0), o
			}
			// A warm-up call each, and the three graphs score alike.
			var want map[string]ort.Tensor
			for i, g := range graphs {
				_, o := run(g.sess)
				if i == 0 {
					want = o
				}
				require.Len(b, o[g.check].Float32, 1, "%s: its %s", g.name, g.check)
				got, ref := float64(o[g.check].Float32[0]), float64(want[g.against].Float32[0])
				require.LessOrEqual(b, relErr(got, ref), 1e-4, "%s graph's %s %v against ours %v", g.name, g.check, got, ref)
			}
			ms := make([][]float64, len(graphs))
			var vsTorch [2][]float64
			b.ResetTimer()
			for range b.N {
				var d [3]time.Duration
				for i, g := range graphs {
					d[i], _ = run(g.sess) // the outputs were compared after the warm-up
					ms[i] = append(ms[i], d[i].Seconds()*1e3)
				}
				vsTorch[0] = append(vsTorch[0], float64(d[0])/float64(d[2]))
				vsTorch[1] = append(vsTorch[1], float64(d[1])/float64(d[2]))
			}
			b.StopTimer()
			b.ReportMetric(median(vsTorch[0]), "ours/torch")
			b.ReportMetric(median(vsTorch[1]), "fast/torch")
			for i, g := range graphs {
				b.ReportMetric(median(ms[i]), "ms/"+g.name)
			}
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
