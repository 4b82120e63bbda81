package ortscore

import (
	"fmt"

	"github.com/csad-go/csad/onnx"
)

// Fake describes a stand-in for a CSAD graph: the names, types and shapes of csad-go's export
// with maps, computed by a few cheap operators whose results the tests can derive from the
// preprocessed input. It compiles in milliseconds, so the error, concurrency and wiring tests
// need neither LibTorch nor the real model.
//
//	score        ReduceMean(input) · ScoreScale            (batch)
//	lgst         ReduceMax(input)                          (batch)
//	patch_hist   ReduceMin(input)                          (batch)
//	local_map    AveragePool 4×4/4 of channel 0            (batch, S/4, S/4)
//	global_map   MaxPool 4×4/4 of channel 1                (batch, S/4, S/4)
//	segmentation ArgMax over channels + ClassOffset, int32 (batch, S, S)
type Fake struct {
	Size        int64  // S, a multiple of 4
	Header      string // the "csad.header" metadata; "" leaves it out
	NoMaps      bool   // only score, lgst and patch_hist, as 'csad export' without -maps
	ScoreScale  float32
	ClassOffset int64
	Seg64       bool // segmentation left int64 (a graph from some other exporter)
}

// FakeHeader is a "csad.header" for a Fake of side size, in the JSON of csad.Header.
func FakeHeader(size int64, threshold *float64) string {
	t := ""
	if threshold != nil {
		t = fmt.Sprintf(`,"threshold":%v`, *threshold)
	}
	return fmt.Sprintf(`{"format":"csad","version":1,"category":"fake","config":{"image_size":%d,"feature_size":%d}%s}`,
		size, size/4, t)
}

// Graph writes the fake as an .onnx model.
func (f Fake) Graph() ([]byte, error) {
	s, m := f.Size, f.Size/4
	batch := onnx.Sym("batch")
	g := onnx.NewGraph("fake_csad")
	x := g.Input(InputName, onnx.Float32, onnx.Shape{batch, onnx.Dim(3), onnx.Dim(s), onnx.Dim(s)})
	all := onnx.AttrInts("axes", 1, 2, 3)
	flat := onnx.AttrInt("keepdims", 0)
	mean := g.Node("ReduceMean", []string{x}, all, flat)
	scale := g.Float32Tensor("score_scale", []int64{1}, []float32{f.ScoreScale})
	g.NodeNamed(ScoreName, "Mul", []string{mean, scale})
	g.NodeNamed(LGSTName, "ReduceMax", []string{x}, all, flat)
	g.NodeNamed(PatchHistName, "ReduceMin", []string{x}, all, flat)
	for _, name := range []string{ScoreName, LGSTName, PatchHistName} {
		g.Output(name, onnx.Float32, onnx.Shape{batch})
	}
	if !f.NoMaps {
		ax := g.Int64Tensor("axis1", []int64{1}, []int64{1})
		channel := func(c int64) string {
			from := g.Int64Tensor(fmt.Sprintf("c%d_start", c), []int64{1}, []int64{c})
			to := g.Int64Tensor(fmt.Sprintf("c%d_end", c), []int64{1}, []int64{c + 1})
			return g.Node("Slice", []string{x, from, to, ax})
		}
		pool := []onnx.Attr{onnx.AttrInts("kernel_shape", 4, 4), onnx.AttrInts("strides", 4, 4)}
		avg := g.Node("AveragePool", []string{channel(0)}, pool...)
		g.NodeNamed(LocalMapName, "Squeeze", []string{avg, ax})
		mx := g.Node("MaxPool", []string{channel(1)}, pool...)
		g.NodeNamed(GlobalMapName, "Squeeze", []string{mx, ax})
		arg := g.Node("ArgMax", []string{x}, onnx.AttrInt("axis", 1), onnx.AttrInt("keepdims", 0))
		off := g.Int64Tensor("class_offset", nil, []int64{f.ClassOffset})
		cls := g.Node("Add", []string{arg, off})
		segType := onnx.Int32
		if f.Seg64 {
			g.NodeNamed(SegmentationName, "Identity", []string{cls})
			segType = onnx.Int64
		} else {
			g.NodeNamed(SegmentationName, "Cast", []string{cls}, onnx.AttrInt("to", 6))
		}
		g.Output(LocalMapName, onnx.Float32, onnx.Shape{batch, onnx.Dim(m), onnx.Dim(m)})
		g.Output(GlobalMapName, onnx.Float32, onnx.Shape{batch, onnx.Dim(m), onnx.Dim(m)})
		g.Output(SegmentationName, segType, onnx.Shape{batch, onnx.Dim(s), onnx.Dim(s)})
	}
	meta := map[string]string{}
	if f.Header != "" {
		meta[HeaderKey] = f.Header
	}
	return g.Marshal(onnx.ModelInfo{Opset: 17, Producer: "ortscore-test", Metadata: meta})
}

// SetBeforeRun installs the hook that runs inside a slot just before each forward pass, with
// the pass's batch size.
func (s *Scorer) SetBeforeRun(f func(batch int)) { s.beforeRun = f }

// Waiting is the number of single images queued to share a pass (Options.GatherBatch).
func (s *Scorer) Waiting() int { return s.gather.Len() }
