package csad

import (
	"fmt"

	"github.com/csad-go/csad/onnx"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// The ONNX graph is written operator by operator from the same modules that Network.Forward
// runs, in the same order and with the same channel orders, so that ONNX Runtime (or
// TensorRT) computes what LibTorch computes up to float32 rounding. docs/onnx.md lists the
// correspondence; the comments below say only where ONNX needs something PyTorch does not.

// batchDim names the dynamic batch axis of the input and of every output.
const batchDim = "batch"

// val is a graph value with the shape the exporter expects it to have; dim 0 is the batch
// (-1) for every activation. The shapes become value_info, which ONNX's strict shape
// inference then checks against its own (testdata/check_onnx.py).
type val struct {
	name  string
	dt    onnx.DType
	shape []int64
}

// exporter writes one graph. Its first failure (a weight that cannot be read) sticks in err.
type exporter struct {
	g     *onnx.Graph
	trunk onnx.DType // element type of the convolutional trunks: float32, or float16 with FP16
	batch string     // (1,) int64: the input's batch size, for Resize's sizes
	// fast writes fast mode's graph (ExportOptions.Fast): its weights are derived as fast mode
	// derives them (folder), in float64, one convolution's temporaries at a time.
	fast bool
	err  error
}

func (e *exporter) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

func onnxShape(s []int64) onnx.Shape {
	out := make(onnx.Shape, len(s))
	for i, d := range s {
		if d < 0 {
			out[i] = onnx.Sym(batchDim)
		} else {
			out[i] = onnx.Dim(d)
		}
	}
	return out
}

// node appends op under a name derived from name and records the output's type and shape.
func (e *exporter) node(name, op string, dt onnx.DType, shape []int64, ins []string, attrs ...onnx.Attr) val {
	out := e.g.NodeNamed(e.g.Unique(name), op, ins, attrs...)
	e.g.ValueInfo(out, dt, onnxShape(shape))
	return val{out, dt, shape}
}

// named is node with the exact output name: a graph output (with Maps, for the maps), whose
// value_info Graph.Output replaces by the output's own type.
func (e *exporter) named(name, op string, dt onnx.DType, shape []int64, ins []string, attrs ...onnx.Attr) val {
	out := e.g.NodeNamed(name, op, ins, attrs...)
	e.g.ValueInfo(out, dt, onnxShape(shape))
	return val{out, dt, shape}
}

func (e *exporter) floats(name string, t *torch.Tensor) []float32 {
	if e.err != nil {
		return nil
	}
	v, err := t.Float32s()
	if err != nil {
		e.fail(fmt.Errorf("csad: export onnx: read %s: %w", name, err))
	}
	return v
}

// weight adds a trunk parameter (float16 with FP16) under its state-dict name.
func (e *exporter) weight(name string, t *torch.Tensor) string {
	v := e.floats(name, t)
	if e.err != nil {
		return name
	}
	if e.trunk == onnx.Float16 {
		return e.g.Float16Tensor(name, t.Shape(), v)
	}
	return e.g.Float32Tensor(name, t.Shape(), v)
}

// stat adds a statistic, always float32: Σ⁺'s entries and the normalisers' ratios need the range.
func (e *exporter) stat(name string, t *torch.Tensor) string {
	v := e.floats(name, t)
	if e.err != nil {
		return name
	}
	return e.g.Float32Tensor(name, t.Shape(), v)
}

func (e *exporter) scalar(name string, v float32) string {
	return e.g.Float32Tensor(e.g.Unique(name), nil, []float32{v})
}

func (e *exporter) ints(name string, v ...int64) string {
	return e.g.Int64Tensor(e.g.Unique(name), []int64{int64(len(v))}, v)
}

// conv is nn.Conv2d (square kernel, symmetric padding) under the module path prefix.
func (e *exporter) conv(prefix string, x val, c *nn.Conv2d) val {
	return e.convWith(prefix, x, c.Weight, c.Bias, c.Options())
}

// convWith is a convolution by weight w and bias b (nil: none) with options o; its initializers
// are named prefix.weight and prefix.bias.
func (e *exporter) convWith(prefix string, x val, w, b *torch.Tensor, o torch.Conv2dOptions) val {
	ins := []string{x.name, e.weight(prefix+".weight", w)}
	if b != nil {
		ins = append(ins, e.weight(prefix+".bias", b))
	}
	ws := w.Shape()
	if e.err != nil {
		return x
	}
	if len(ws) != 4 || len(x.shape) != 4 {
		e.fail(fmt.Errorf("csad: export onnx: %s: weight %v on input %v is not a 2-D convolution", prefix, ws, x.shape))
		return x
	}
	groups := max(o.Groups, 1)
	stride, dil := [2]int64{max(o.Stride[0], 1), max(o.Stride[1], 1)}, [2]int64{max(o.Dilation[0], 1), max(o.Dilation[1], 1)}
	shape := []int64{x.shape[0], ws[0],
		convOut(x.shape[2], ws[2], stride[0], o.Padding[0], dil[0]),
		convOut(x.shape[3], ws[3], stride[1], o.Padding[1], dil[1])}
	return e.node(prefix, "Conv", x.dt, shape, ins,
		onnx.AttrInts("kernel_shape", ws[2], ws[3]),
		onnx.AttrInts("strides", stride[0], stride[1]),
		onnx.AttrInts("pads", o.Padding[0], o.Padding[1], o.Padding[0], o.Padding[1]),
		onnx.AttrInts("dilations", dil[0], dil[1]),
		onnx.AttrInt("group", groups))
}

// bn is eval-mode nn.BatchNorm2d with its own epsilon.
func (e *exporter) bn(prefix string, x val, l *nn.BatchNorm2d) val {
	ins := []string{x.name,
		e.weight(prefix+".weight", l.Weight), e.weight(prefix+".bias", l.Bias),
		e.weight(prefix+".running_mean", l.RunningMean), e.weight(prefix+".running_var", l.RunningVar)}
	return e.node(prefix, "BatchNormalization", x.dt, x.shape, ins, onnx.AttrFloat("epsilon", float32(l.Eps)))
}

func (e *exporter) unary(name, op string, x val, attrs ...onnx.Attr) val {
	return e.node(name, op, x.dt, x.shape, []string{x.name}, attrs...)
}

func (e *exporter) relu(name string, x val) val { return e.unary(name+".relu", "Relu", x) }

// broadcast is the numpy broadcast of two shapes (the batch, -1, wins over a 1).
func broadcast(a, b []int64) []int64 {
	n := max(len(a), len(b))
	out := make([]int64, n)
	for i := range n {
		da, db := int64(1), int64(1)
		if j := i - (n - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (n - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == 1:
			out[i] = db
		default:
			out[i] = da
		}
	}
	return out
}

// binary is an element-wise operator on values or on initializer names (shape given by b).
func (e *exporter) binary(name, op string, a val, b val) val {
	return e.node(name, op, a.dt, broadcast(a.shape, b.shape), []string{a.name, b.name})
}

// init0 wraps an initializer name as a value of the given shape.
func init0(name string, dt onnx.DType, shape ...int64) val { return val{name, dt, shape} }

// convBN is conv → BatchNorm (→ ReLU); the prefixes are the two modules' state-dict paths.
// With Fast it is one convolution with the norm folded in (fast mode's weights).
func (e *exporter) convBN(convName, bnName string, x val, c *convBN, relu bool) val {
	var y val
	if e.fast {
		y = e.folded(convName, x, c, 0)
	} else {
		y = e.bn(bnName, e.conv(convName, x, c.conv), c.bn)
	}
	if relu {
		y = e.relu(bnName, y)
	}
	return y
}

// folded is c with its BatchNorm folded in, as fast mode runs it; side > 0 is the side of the
// ASPP's square input, on which a convolution that reads only its centre tap becomes 1×1.
func (e *exporter) folded(prefix string, x val, c *convBN, side int64) val {
	sub := (&folder{}).sub()
	defer sub.s.Close()
	w, b := sub.fold(c.conv, c.bn)
	o := c.conv.Options()
	if side > 0 {
		w, o = asppTap(w, o, side)
	}
	return e.convWith(prefix, x, w, b, o)
}

func (e *exporter) maxPool(name string, x val, k, s, p int64) val {
	shape := []int64{x.shape[0], x.shape[1], convOut(x.shape[2], k, s, p, 1), convOut(x.shape[3], k, s, p, 1)}
	return e.node(name, "MaxPool", x.dt, shape, []string{x.name},
		onnx.AttrInts("kernel_shape", k, k), onnx.AttrInts("strides", s, s), onnx.AttrInts("pads", p, p, p, p))
}

// avgPool is F.avg_pool2d with count_include_pad=True (PyTorch's default, which the modules use).
func (e *exporter) avgPool(name string, x val, o torch.PoolOptions) val {
	if o.CeilMode || o.ExcludePad || o.Kernel[0] != o.Kernel[1] {
		e.fail(fmt.Errorf("csad: export onnx: %s: pooling %+v is not exported", name, o))
		return x
	}
	k, s, p := o.Kernel[0], o.Stride[0], o.Padding[0]
	shape := []int64{x.shape[0], x.shape[1], convOut(x.shape[2], k, s, p, 1), convOut(x.shape[3], k, s, p, 1)}
	return e.node(name, "AveragePool", x.dt, shape, []string{x.name},
		onnx.AttrInts("kernel_shape", k, k), onnx.AttrInts("strides", s, s),
		onnx.AttrInts("pads", p, p, p, p), onnx.AttrInt("count_include_pad", 1))
}

// resize is F.interpolate(mode="bilinear", align_corners=False) to h×w. ONNX takes the target
// as sizes of all four axes, so the batch comes from the input's shape at run time. With sizes,
// Resize scales by out/in, the ratio PyTorch uses without a scale_factor; pytorch_half_pixel is
// PyTorch's half-pixel mapping for every output side > 1, which all of the model's are.
func (e *exporter) resize(name string, x val, h, w int64) val {
	if e.fast && x.shape[2] == h && x.shape[3] == w {
		return x // an exact copy, which fast mode skips
	}
	sizes := e.g.Unique(name + ".sizes")
	e.g.NodeNamed(sizes, "Concat", []string{e.batch, e.ints(name+".chw", x.shape[1], h, w)}, onnx.AttrInt("axis", 0))
	e.g.ValueInfo(sizes, onnx.Int64, onnx.Dims(4))
	return e.node(name, "Resize", x.dt, []int64{x.shape[0], x.shape[1], h, w}, []string{x.name, "", "", sizes},
		onnx.AttrString("mode", "linear"),
		onnx.AttrString("coordinate_transformation_mode", "pytorch_half_pixel"))
}

func (e *exporter) concat(name string, axis int64, xs ...val) val {
	shape := append([]int64(nil), xs[0].shape...)
	names := make([]string, len(xs))
	shape[axis] = 0
	for i, x := range xs {
		names[i] = x.name
		shape[axis] += x.shape[axis]
	}
	return e.node(name, "Concat", xs[0].dt, shape, names, onnx.AttrInt("axis", axis))
}

// toFloat32 ends a trunk: with FP16 the statistics that follow (quantile normalisation,
// Mahalanobis with Σ⁺, z-scores) run in float32.
func (e *exporter) toFloat32(x val) val {
	if x.dt == onnx.Float32 {
		return x
	}
	return e.node(x.name+".float32", "Cast", onnx.Float32, x.shape, []string{x.name}, onnx.AttrInt("to", int64(onnx.Float32)))
}

// reduce is ReduceMean/ReduceMax over axes (attribute form, opsets 13..17).
func (e *exporter) reduce(name, op string, x val, keep bool, axes ...int64) val {
	var shape []int64
	drop := map[int64]bool{}
	for _, a := range axes {
		drop[a] = true
	}
	for i, d := range x.shape {
		switch {
		case !drop[int64(i)]:
			shape = append(shape, d)
		case keep:
			shape = append(shape, 1)
		}
	}
	k := int64(0)
	if keep {
		k = 1
	}
	return e.node(name, op, x.dt, shape, []string{x.name}, onnx.AttrInts("axes", axes...), onnx.AttrInt("keepdims", k))
}

// encoder is Encoder.Forward: the stem, max pool, and the three stages of bottlenecks.
func (e *exporter) encoder(x val, enc *Encoder) [3]val {
	h := e.convBN("encoder.conv1", "encoder.bn1", x, &enc.stem, true)
	h = e.maxPool("encoder.maxpool", h, 3, 2, 1)
	var out [3]val
	for i, stage := range enc.stages {
		for j, b := range stage {
			p := fmt.Sprintf("encoder.layer%d.%d", i+1, j)
			y := e.convBN(p+".conv1", p+".bn1", h, &b.c1, true)
			y = e.convBN(p+".conv2", p+".bn2", y, &b.c2, true)
			y = e.convBN(p+".conv3", p+".bn3", y, &b.c3, false)
			short := h
			if b.down != nil {
				short = e.convBN(p+".downsample.0", p+".downsample.1", h, b.down, false)
			}
			h = e.relu(p, e.binary(p+".add", "Add", y, short))
		}
		out[i] = h
	}
	return out
}

// teacher is TeacherHead.Forward: layer2 and layer3 at the map size, concatenated in that
// order, 3×3 average-pooled, projected.
func (e *exporter) teacher(feat [3]val, t *TeacherHead) val {
	a := e.resize("teacher.resize2", feat[1], t.size, t.size)
	b := e.resize("teacher.resize3", feat[2], t.size, t.size)
	p := e.avgPool("teacher.avgpool", e.concat("teacher.cat", 1, a, b), teacherPool)
	return e.conv("teacher.proj", p, t.Proj)
}

var teacherPool = torch.PoolOptions{Kernel: [2]int64{3, 3}, Stride: [2]int64{1, 1}, Padding: [2]int64{1, 1}}

// teacherFast is fast mode's normalised teacher map: layer2 and layer3 projected first, then
// resized, summed and pooled, the bias (with the normalisation folded in) added last, in float32.
func (e *exporter) teacherFast(feat [3]val, n *Network) val {
	sub := (&folder{}).sub()
	defer sub.s.Close()
	w2, w3, bias := sub.teacherProjection(n)
	o, size := n.Teacher.Proj.Options(), n.Teacher.size
	a := e.resize("teacher.resize2", e.convWith("teacher.proj.layer2", feat[1], w2, nil, o), size, size)
	b := e.resize("teacher.resize3", e.convWith("teacher.proj.layer3", feat[2], w3, nil, o), size, size)
	p := e.toFloat32(e.avgPool("teacher.avgpool", e.binary("teacher.sum", "Add", a, b), teacherPool))
	c := p.shape[1]
	return e.binary("teacher.norm", "Add", p, init0(e.stat("teacher.norm.bias", bias.Reshape(1, c, 1, 1)), onnx.Float32, 1, c, 1, 1))
}

// student is LocalStudent.Forward.
func (e *exporter) student(x val, s *LocalStudent) (st, ae val) {
	h := e.relu("local_st.conv1", e.conv("local_st.conv1", x, s.Conv1))
	h = e.avgPool("local_st.avgpool1", h, avg2)
	h = e.relu("local_st.conv2", e.conv("local_st.conv2", h, s.Conv2))
	h = e.avgPool("local_st.avgpool2", h, avg2)
	h = e.relu("local_st.conv3", e.conv("local_st.conv3", h, s.Conv3))
	h = e.relu("local_st.conv4", e.conv("local_st.conv4", h, s.Conv4))
	h = e.relu("local_st.conv5", e.conv("local_st.conv5", h, s.Conv5))
	h = e.resize("local_st.resize", h, s.size, s.size)
	return e.conv("local_st.conv_st", h, s.ConvST), e.conv("local_st.conv_ae", h, s.ConvAE)
}

// autoencoder is AutoEncoder.Forward in evaluation mode (dropout is the identity).
func (e *exporter) autoencoder(x val, a *AutoEncoder) val {
	h := x
	for i, c := range a.Enc {
		p := fmt.Sprintf("autoencoder.enconv%d", i+1)
		h = e.conv(p, h, c)
		if i < len(a.Enc)-1 {
			h = e.relu(p, h)
		}
	}
	for i, size := range decoderSizes {
		p := fmt.Sprintf("autoencoder.deconv%d", i+1)
		h = e.resize(p+".resize", h, size, size)
		h = e.relu(p, e.conv(p, h, a.Dec[i]))
	}
	h = e.resize("autoencoder.deconv7.resize", h, a.size, a.size)
	h = e.relu("autoencoder.deconv7", e.conv("autoencoder.deconv7", h, a.Dec[6]))
	return e.conv("autoencoder.deconv8", h, a.Dec[7])
}

func (e *exporter) convBnReLU(prefix string, x val, l *convBnReLU) val {
	return e.convBN(prefix+".conv", prefix+".bn", x, &l.cb, l.relu)
}

// segmentor is Segmentor.Forward: ASPP stages c0..c3 then the image pool, concatenated in that
// order; the decoder joins [upsampled ASPP, reduced layer1] in that order.
func (e *exporter) segmentor(feat [3]val, s *Segmentor) val {
	r := e.convBnReLU("segmentor.reduce", feat[0], s.reduce)
	q, h := s.size/16, s.size/4
	x3 := e.resize("segmentor.resize3", feat[2], q, q)
	stages := make([]val, 0, 5)
	for i, c := range s.aspp {
		p := fmt.Sprintf("segmentor.aspp.stages.c%d", i)
		if e.fast {
			stages = append(stages, e.relu(p+".bn", e.folded(p+".conv", x3, &c.cb, q)))
			continue
		}
		stages = append(stages, e.convBnReLU(p, x3, c))
	}
	gap := e.node("segmentor.aspp.stages.imagepool.pool", "GlobalAveragePool", x3.dt,
		[]int64{x3.shape[0], x3.shape[1], 1, 1}, []string{x3.name})
	pooled := e.convBnReLU("segmentor.aspp.stages.imagepool.conv", gap, s.imagepool)
	stages = append(stages, e.resize("segmentor.aspp.stages.imagepool.resize", pooled, q, q))
	x := e.convBnReLU("segmentor.fc1", e.concat("segmentor.aspp.cat", 1, stages...), s.fc1)
	x = e.resize("segmentor.fc1.resize", x, h, h)
	x = e.concat("segmentor.fc2.cat", 1, x, r)
	x = e.convBnReLU("segmentor.fc2.conv1", x, s.fc2c1)
	x = e.convBnReLU("segmentor.fc2.conv2", x, s.fc2c2)
	x = e.conv("segmentor.fc2.conv3", x, s.fc2c3)
	return e.resize("segmentor.logits", x, s.size, s.size)
}

// histograms is PatchHistDetector.Histograms on the one-hot labels (B, N, S, S) float32: the
// class fractions of the whole map (B, N) and of its quadrants TL, BL, TR, BR (B, 4N). The sums
// of 0/1 values are exact in float32 and S² is a power of two, so these equal LibTorch's bit for
// bit whenever the labels do.
func (e *exporter) histograms(onehot val, size int64) (whole, quads val) {
	whole = e.reduce("patch_hist_detector.hist", "ReduceMean", onehot, false, 2, 3)
	hh := size / 2
	axes := e.ints("patch_hist_detector.quad.axes", 2, 3)
	var qs []val
	for _, q := range []struct {
		name   string
		r0, c0 int64
	}{{"tl", 0, 0}, {"bl", hh, 0}, {"tr", 0, hh}, {"br", hh, hh}} {
		p := "patch_hist_detector.quad." + q.name
		sl := e.node(p, "Slice", onehot.dt, []int64{onehot.shape[0], onehot.shape[1], hh, hh},
			[]string{onehot.name, e.ints(p+".starts", q.r0, q.c0), e.ints(p+".ends", q.r0+hh, q.c0+hh), axes})
		qs = append(qs, e.reduce(p+".hist", "ReduceMean", sl, false, 2, 3))
	}
	return whole, e.concat("patch_hist_detector.quad.cat", 1, qs...)
}

// mahalanobis is csad's mahalanobis() for every sample at once: δ = h − μ as (B, K, 1), then
// Σ⁺·δ and δᵀ·(Σ⁺δ) as batched matrix products, the per-sample order of the Go loop (the official
// export traced that loop for batch 1 and broadcast sample 0's distance to the whole batch).
func (e *exporter) mahalanobis(name string, h val, mean, invcov *torch.Tensor, meanName, invName string) val {
	k := h.shape[1]
	hu := e.node(name+".h", "Unsqueeze", h.dt, []int64{-1, k, 1}, []string{h.name, e.ints(name+".axis2", 2)})
	delta := e.binary(name+".delta", "Sub", hu, init0(e.stat(meanName, mean), onnx.Float32, k, 1))
	sd := e.node(name+".invcov_delta", "MatMul", onnx.Float32, []int64{-1, k, 1},
		[]string{e.stat(invName, invcov), delta.name})
	dt := e.node(name+".delta_t", "Transpose", onnx.Float32, []int64{-1, 1, k}, []string{delta.name}, onnx.AttrInts("perm", 0, 2, 1))
	q := e.node(name+".quad", "MatMul", onnx.Float32, []int64{-1, 1, 1}, []string{dt.name, sd.name})
	q = e.node(name+".squeeze", "Squeeze", onnx.Float32, []int64{-1}, []string{q.name, e.ints(name+".axes12", 1, 2)})
	return e.unary(name+".sqrt", "Sqrt", q)
}

// zscore is (x − mean)/std with 0-dim float32 statistics.
func (e *exporter) zscore(name string, x val, meanName string, mean *torch.Tensor, stdName string, std *torch.Tensor) val {
	d := e.binary(name+".sub", "Sub", x, init0(e.stat(meanName, mean), onnx.Float32))
	return e.binary(name+".div", "Div", d, init0(e.stat(stdName, std), onnx.Float32))
}

// export writes the whole of Network.Forward.
func (e *exporter) export(n *Network, opts ExportOptions) {
	cfg := n.cfg
	s, fs := cfg.ImageSize, cfg.FeatureSize
	in := val{e.g.Input(ONNXInput, onnx.Float32, onnxShape([]int64{-1, 3, s, s})), onnx.Float32, []int64{-1, 3, s, s}}
	shape := e.node("input.shape", "Shape", onnx.Int64, []int64{4}, []string{in.name})
	e.batch = e.node("input.batch", "Slice", onnx.Int64, []int64{1},
		[]string{shape.name, e.ints("input.batch.start", 0), e.ints("input.batch.end", 1), e.ints("input.batch.axes", 0)}).name
	x := in
	if e.trunk == onnx.Float16 {
		x = e.node("input.float16", "Cast", onnx.Float16, in.shape, []string{in.name}, onnx.AttrInt("to", int64(onnx.Float16)))
	}

	feat := e.encoder(x, n.Encoder)

	// Patch-histogram branch.
	logits := e.toFloat32(e.segmentor(feat, n.Segmentor))
	nc := cfg.Segmentor.Classes
	labels := e.node("patch_hist_detector.labels", "ArgMax", onnx.Int64, []int64{-1, s, s}, []string{logits.name},
		onnx.AttrInt("axis", 1), onnx.AttrInt("keepdims", 0), onnx.AttrInt("select_last_index", 0))
	classes := make([]int64, nc)
	for i := range classes {
		classes[i] = int64(i)
	}
	cls := e.g.Int64Tensor("patch_hist_detector.classes", []int64{1, nc, 1, 1}, classes)
	lu := e.node("patch_hist_detector.labels4", "Unsqueeze", onnx.Int64, []int64{-1, 1, s, s}, []string{labels.name, e.ints("patch_hist_detector.axis1", 1)})
	eq := e.node("patch_hist_detector.onehot_bool", "Equal", onnx.Bool, []int64{-1, nc, s, s}, []string{lu.name, cls})
	onehot := e.node("patch_hist_detector.onehot", "Cast", onnx.Float32, eq.shape, []string{eq.name}, onnx.AttrInt("to", int64(onnx.Float32)))
	whole, quads := e.histograms(onehot, s)
	d := n.Detector
	d256 := e.mahalanobis("patch_hist_detector.d256", whole, d.HistMean, d.HistInvCov, "patch_hist_detector.hist_mean", "patch_hist_detector.hist_invcov")
	d128 := e.mahalanobis("patch_hist_detector.d128", quads, d.PatchHistMean, d.PatchHistInvCov, "patch_hist_detector.patch_hist_mean", "patch_hist_detector.patch_hist_invcov")
	z256 := e.zscore("patch_hist_detector.z256", d256, "patch_hist_detector.hist_val_mean", d.HistValMean, "patch_hist_detector.hist_val_std", d.HistValStd)
	z128 := e.zscore("patch_hist_detector.z128", d128, "patch_hist_detector.patch_hist_val_mean", d.PatchHistValMean, "patch_hist_detector.patch_hist_val_std", d.PatchHistValStd)
	ph := e.named(ONNXPatchHist, "Add", onnx.Float32, []int64{-1}, []string{z256.name, z128.name})

	// Local–global branch.
	var t val
	if e.fast {
		t = e.teacherFast(feat, n)
	} else {
		traw := e.toFloat32(e.teacher(feat, n.Teacher))
		t = e.zscore("teacher.norm", traw, "teacher_mean", n.TeacherMean, "teacher_std", n.TeacherStd)
	}
	st, sae := e.student(x, n.Student)
	st, sae = e.toFloat32(st), e.toFloat32(sae)
	a := e.toFloat32(e.autoencoder(x, n.AE))
	sqmean := func(name string, p, q val) val {
		diff := e.binary(name+".diff", "Sub", p, q)
		return e.reduce(name+".mean", "ReduceMean", e.binary(name+".sq", "Mul", diff, diff), false, 1)
	}
	ml := sqmean("map_local", t, st)
	mg := sqmean("map_global", sae, a)
	// 0.1·(m − q_start)/(q_end − q_start): the range is a float32 subtraction, as in LibTorch.
	norm := func(name, out string, m val, q0, q1 *torch.Tensor, q0Name, q1Name string) val {
		v0, v1 := e.floats(q0Name, q0), e.floats(q1Name, q1)
		if e.err != nil {
			return m
		}
		sub := e.binary(name+".sub", "Sub", m, init0(e.stat(q0Name, q0), onnx.Float32))
		mul := e.binary(name+".scale", "Mul", sub, init0(e.scalar(name+".tenth", 0.1), onnx.Float32))
		return e.named(out, "Div", onnx.Float32, mul.shape, []string{mul.name, e.scalar(name+".range", v1[0]-v0[0])})
	}
	local := norm("map_local.norm", ONNXLocalMap, ml, n.QSTStart, n.QSTEnd, "q_st_start", "q_st_end")
	global := norm("map_global.norm", ONNXGlobalMap, mg, n.QAEStart, n.QAEEnd, "q_ae_start", "q_ae_end")
	sum := e.binary("map_sum", "Add", local, global)
	lgst := e.named(ONNXLGST, "ReduceMax", onnx.Float32, []int64{-1}, []string{sum.name}, onnx.AttrInts("axes", 1, 2), onnx.AttrInt("keepdims", 0))
	zl := e.zscore("score.lgst", lgst, "lgst_mean", n.LGSTMean, "lgst_std", n.LGSTStd)
	zp := e.zscore("score.patch_hist", ph, "patch_hist_mean", n.PatchHistMean, "patch_hist_std", n.PatchHistStd)
	e.named(ONNXScore, "Add", onnx.Float32, []int64{-1}, []string{zl.name, zp.name})

	if opts.Maps {
		e.named(ONNXAnomalyMap, "Unsqueeze", onnx.Float32, []int64{-1, 1, fs, fs}, []string{sum.name, e.ints("anomaly_map.axis1", 1)})
		e.named(ONNXSegmentation, "Cast", onnx.Int32, labels.shape, []string{labels.name}, onnx.AttrInt("to", int64(onnx.Int32)))
	}
	_, outs := ONNXSignature(cfg, opts)
	for _, o := range outs {
		dt := onnx.Float32
		if o.DType == "int32" {
			dt = onnx.Int32
		}
		e.g.Output(o.Name, dt, onnxShape(append([]int64{-1}, o.Dims...)))
	}
}
