package csad

import (
	"fmt"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// Fast mode (Network.UseChannelsLast) evaluates the same function as the exact forward pass
// with other float32 roundings, with the layouts and the arithmetic that are fastest for
// LibTorch 1.13's oneDNN convolutions on the CPU:
//
//   - every convolution called as oneDNN's own (mkldnn_convolution) with its weight laid out
//     once, at load, in the blocked format its kernel reads (mkldnn_reorder_conv2d_weight), and
//     the maps kept in oneDNN's blocked layout (to_mkldnn) from one convolution to the next
//     wherever every operator in between has a oneDNN kernel: the encoder, the student, the
//     autoencoder's encoder, the segmentor's ASPP and its last three convolutions. aten::conv2d
//     reorders the weight on every call (a 9 MB copy for a 512→512 3×3 kernel, as long as the
//     whole convolution on a 16×16 map) and each map from NCHW to the blocked layout and back;
//     here a map is reordered only where it leaves for an operator oneDNN lacks (bilinear
//     resizing, concatenation, narrowing, the maps' arithmetic). The kernels are those
//     aten::conv2d picks for NCHW maps, so the convolutions round as they did there;
//   - ReLU in place, and the student's average pooling by oneDNN, on those blocked maps;
//   - each eval-mode BatchNorm folded into the convolution before it (w·γ/σ, β − μ·γ/σ): one
//     operator and one pass over memory fewer;
//   - the teacher's 1×1 projection applied to layer2 and layer3 before they are resized and
//     pooled rather than after: resizing, zero-padded average pooling and a 1×1 convolution are
//     all linear and commute (the bias goes in after the pooling, which weighs it by the
//     in-bounds share at the borders otherwise), 0.8 instead of 6.4 GFLOP at the paper's
//     sizes, and the teacher's normalisation (t − mean)/std folded into that projection;
//   - an ASPP convolution whose dilation reaches past its whole input (dilation 18 on a 16×16
//     map) reads only zero padding with its outer taps, so it runs as the 1×1 convolution of
//     its centre tap;
//   - the student's two 1×1 heads as one convolution, and resizes to the size a map already
//     has (an exact copy in bilinear interpolation) skipped.
//
// LibTorch 1.13's fused convolution+ReLU kernels are out of reach: mkldnn::_convolution_pointwise
// came with PyTorch 2.0, mkldnn_prepacked::conv2d_run takes a TorchScript class object that the
// dispatcher binding does not pass, and XNNPACK's prepacked conv2d_clamp is 2–3× slower here
// than oneDNN. ReLU stays a separate (in-place) operator.
//
// Network.UseBFloat16 (Options.BFloat16) derives the student's and the autoencoder's weights as
// bfloat16 oneDNN tensors instead, and runs those branches on bfloat16 oneDNN maps from a
// bfloat16 copy of the image: oneDNN's bfloat16 kernels do twice the float32 work per cycle on
// CPUs with AVX512_BF16 or AMX. The encoder, segmentor and teacher stay float32, so the
// segmentation is float32 fast mode's; dense maps (after a resize, and every output) are float32.
//
// The derived weights live in fastWeights, outside the module tree: the state dict, the model
// file, the ONNX export and the exact forward pass see the original parameters only, untouched.

// fastConv is one convolution of fast mode: its weight, with any following BatchNorm folded
// in, as a oneDNN tensor in its kernel's layout, and a dense bias (nil only when the
// convolution had neither bias nor norm).
type fastConv struct {
	w, b *torch.Tensor
	opts torch.Conv2dOptions
	// dt is the element type the convolution computes in: Float32, or BFloat16 (w is then a
	// bfloat16 oneDNN tensor, and so are its oneDNN inputs and outputs; oneDNN accumulates in
	// float32 and rounds each output to bfloat16).
	dt torch.DType
}

// forward convolves x, a oneDNN tensor of c.dt (the result is one too) or a dense float32 one
// (the result is dense float32 NCHW).
func (c *fastConv) forward(x *torch.Tensor) *torch.Tensor {
	if c.dt == torch.Float32 || x.IsMkldnn() {
		return x.MkldnnConv2d(c.w, c.b, c.opts)
	}
	// A dense float32 map in and out (the autoencoder's decoder, and the student's heads after
	// a resize): a bfloat16 copy of it for the convolution.
	xb := x.To(c.dt)
	defer xb.Close()
	y := xb.MkldnnConv2d(c.w, c.b, c.opts)
	defer y.Close()
	return y.To(torch.Float32)
}

// fastBlock is a bottleneck with folded convolutions.
type fastBlock struct {
	c1, c2, c3 fastConv
	down       *fastConv
}

// fastWeights are everything fast mode derives from the network's parameters. All tensors are
// owned here (created without autograd history) and freed by close.
type fastWeights struct {
	owned []*torch.Tensor
	// lgst is the element type of the student's and the autoencoder's convolutions (Float32, or
	// BFloat16 after Network.UseBFloat16); the encoder, segmentor and teacher are float32.
	lgst torch.DType

	stem   fastConv
	stages [3][]fastBlock

	reduce, imagepool, fc1, fc2c1, fc2c2, fc2c3 fastConv
	aspp                                        [4]fastConv

	// proj2 and proj3 are the teacher projection's columns for layer2 and layer3, divided by
	// teacher_std; projBias is (bias − teacher_mean)/teacher_std as (1, C, 1, 1).
	proj2, proj3 fastConv
	projBias     *torch.Tensor
	// heads is conv_st and conv_ae stacked along the output channels, each headOut of them.
	heads   fastConv
	headOut int64

	pdn [5]fastConv // the student's conv1..conv5
	enc [6]fastConv // the autoencoder's
	dec [8]fastConv
}

func (fw *fastWeights) close() {
	if fw == nil {
		return
	}
	for _, t := range fw.owned {
		t.Close()
	}
	fw.owned = nil
}

// folder builds fastWeights inside a no-grad scope; keep takes each finished tensor out of it.
type folder struct {
	s  *torch.Scope
	fw *fastWeights
	// release frees each module's own tensors as soon as its fast weights are kept (a Model
	// loaded with Options.Fast needs nothing else), so that the two copies of the weights are
	// never all alive at once.
	release bool
	dt      torch.DType // the element type finish lays the weights out in
}

// done frees the layers' own parameters and buffers when the folder releases them.
func (fd *folder) done(ls ...nn.Layer) {
	if !fd.release {
		return
	}
	for _, l := range ls {
		nn.Close(l)
	}
}

func (fd *folder) keep(t *torch.Tensor) (*torch.Tensor, error) {
	if err := t.Err(); err != nil {
		return nil, err
	}
	t = fd.s.Keep(t)
	fd.fw.owned = append(fd.fw.owned, t)
	return t, nil
}

func (fd *folder) f64(t *torch.Tensor) *torch.Tensor { return t.Share(fd.s).To(torch.Float64) }

// fold returns c's weight and bias with bn (nil: none) folded in, in float64: the products
// are rounded once to float32 by finish, so a folded weight is the float32 nearest w·γ/σ.
func (fd *folder) fold(c *nn.Conv2d, bn *nn.BatchNorm2d) (w, b *torch.Tensor) {
	w = fd.f64(c.Weight)
	if c.Bias != nil {
		b = fd.f64(c.Bias)
	}
	if bn == nil {
		return w, b
	}
	scale := fd.f64(bn.Weight).Div(fd.f64(bn.RunningVar).AddScalar(bn.Eps).Sqrt())
	shift := fd.f64(bn.Bias).Sub(fd.f64(bn.RunningMean).Mul(scale))
	if b != nil {
		shift = shift.Add(b.Mul(scale))
	}
	return w.Mul(scale.Reshape(-1, 1, 1, 1)), shift
}

// sub is a folder whose temporaries live in a scope of their own, for one convolution: closed
// once its weights are kept, so that the float64 and intermediate copies of every weight are
// not all alive at once (and then left to glibc as heap the process never gives back).
func (fd *folder) sub() *folder {
	return &folder{s: torch.NewNoGradScope(), fw: fd.fw, release: fd.release, dt: fd.dt}
}

func (fd *folder) conv(c *nn.Conv2d, bn *nn.BatchNorm2d) (fastConv, error) {
	sub := fd.sub()
	defer sub.s.Close()
	w, b := sub.fold(c, bn)
	fc, err := sub.finish(w, b, c.Options())
	if err == nil {
		sub.done(c)
		if bn != nil {
			sub.done(bn)
		}
	}
	return fc, err
}

// plain is a convolution without a norm.
func (fd *folder) plain(c *nn.Conv2d) (fastConv, error) { return fd.conv(c, nil) }

// finish rounds w and b to float32, lays w out for its convolution's oneDNN kernel, and keeps
// them.
func (fd *folder) finish(w, b *torch.Tensor, o torch.Conv2dOptions) (fastConv, error) {
	dt := fd.dt
	wk, err := fd.keep(w.To(torch.Float32).Contiguous().ToMkldnn(dt).MkldnnConv2dWeight(o))
	if err != nil {
		return fastConv{}, err
	}
	fc := fastConv{w: wk, opts: o, dt: dt}
	if b != nil {
		if fc.b, err = fd.keep(b.To(torch.Float32)); err != nil {
			return fastConv{}, err
		}
	}
	return fc, nil
}

// aspp folds an ASPP convolution. One whose padding equals its dilation and reaches past the
// whole side×side input reads only zero padding with all but its centre tap, so it becomes the
// 1×1 convolution of that tap.
func (fd *folder) aspp(c *convBnReLU, side int64) (fastConv, error) {
	fd = fd.sub()
	defer fd.s.Close()
	w, b := fd.fold(c.cb.conv, c.cb.bn)
	w, o := asppTap(w, c.cb.conv.Options(), side)
	fc, err := fd.finish(w, b, o)
	if err == nil {
		fd.done(c)
	}
	return fc, err
}

// asppTap is the convolution that computes what w (a 3×3 kernel) with options o computes on a
// side×side input: its centre tap alone, as a 1×1 convolution, where the padding equals the
// dilation and that reaches past the whole input; otherwise w and o themselves.
func asppTap(w *torch.Tensor, o torch.Conv2dOptions, side int64) (*torch.Tensor, torch.Conv2dOptions) {
	sh := w.Shape()
	if len(sh) == 4 && sh[2] == 3 && sh[3] == 3 && o.Groups <= 1 && o.Stride == [2]int64{1, 1} &&
		o.Padding == o.Dilation && o.Dilation[0] >= side && o.Dilation[1] >= side {
		return w.Narrow(2, 1, 1).Narrow(3, 1, 1), torch.Conv2dOptions{Groups: 1}
	}
	return w, o
}

// teacherProjection splits the teacher's projection for fast mode, in float64:
// t = (W·pool(up(cat(l2, l3))) + b − mean)/std = pool(up(w2·l2) + up(w3·l3)) + bias, where
// w2 and w3 are W's columns for layer2 and layer3 divided by std and bias is (b − mean)/std,
// of shape (C).
func (fd *folder) teacherProjection(n *Network) (w2, w3, bias *torch.Tensor) {
	p := n.Teacher.Proj
	std := fd.f64(n.TeacherStd).Reshape(-1)
	w := fd.f64(p.Weight).Div(std.Reshape(-1, 1, 1, 1))
	c2 := n.cfg.Encoder.Out[1]
	bias = fd.f64(p.Bias).Sub(fd.f64(n.TeacherMean).Reshape(-1)).Div(std)
	return w.Narrow(1, 0, c2), w.Narrow(1, c2, n.cfg.Encoder.Out[2]), bias
}

// newFastWeights derives fast mode's weights from n's current parameters; with release it
// frees the branches' own tensors as it goes (Network.keepOnlyFast).
func newFastWeights(n *Network, release bool, lgst torch.DType) (_ *fastWeights, err error) {
	s := torch.NewNoGradScope()
	defer s.Close()
	fd := &folder{s: s, fw: &fastWeights{lgst: lgst}, release: release, dt: torch.Float32}
	defer func() {
		if err != nil {
			fd.fw.close()
		}
	}()
	fw := fd.fw
	cb := func(c convBN) (fastConv, error) { return fd.conv(c.conv, c.bn) }

	e := n.Encoder
	if fw.stem, err = cb(e.stem); err != nil {
		return nil, err
	}
	for i, stage := range e.stages {
		for _, b := range stage {
			var fb fastBlock
			if fb.c1, err = cb(b.c1); err != nil {
				return nil, err
			}
			if fb.c2, err = cb(b.c2); err != nil {
				return nil, err
			}
			if fb.c3, err = cb(b.c3); err != nil {
				return nil, err
			}
			if b.down != nil {
				d, err := cb(*b.down)
				if err != nil {
					return nil, err
				}
				fb.down = &d
			}
			fw.stages[i] = append(fw.stages[i], fb)
		}
	}

	sg := n.Segmentor
	for _, c := range []struct {
		dst *fastConv
		src *convBnReLU
	}{{&fw.reduce, sg.reduce}, {&fw.imagepool, sg.imagepool}, {&fw.fc1, sg.fc1}, {&fw.fc2c1, sg.fc2c1}, {&fw.fc2c2, sg.fc2c2}} {
		if *c.dst, err = cb(c.src.cb); err != nil {
			return nil, err
		}
	}
	if fw.fc2c3, err = fd.plain(sg.fc2c3); err != nil {
		return nil, err
	}
	for i, c := range sg.aspp {
		if fw.aspp[i], err = fd.aspp(c, n.cfg.ImageSize/16); err != nil {
			return nil, err
		}
	}

	p := n.Teacher.Proj
	w2, w3, bias := fd.teacherProjection(n)
	if fw.proj2, err = fd.finish(w2, nil, p.Options()); err != nil {
		return nil, err
	}
	if fw.proj3, err = fd.finish(w3, nil, p.Options()); err != nil {
		return nil, err
	}
	if fw.projBias, err = fd.keep(bias.To(torch.Float32).Reshape(1, -1, 1, 1)); err != nil {
		return nil, err
	}
	fd.done(p)

	fd.dt = lgst // from here on, the student's and the autoencoder's
	st := n.Student
	hw := torch.Cat([]*torch.Tensor{st.ConvST.Weight.Share(s), st.ConvAE.Weight.Share(s)}, 0)
	hb := torch.Cat([]*torch.Tensor{st.ConvST.Bias.Share(s), st.ConvAE.Bias.Share(s)}, 0)
	if fw.heads, err = fd.finish(hw, hb, st.ConvST.Options()); err != nil {
		return nil, err
	}
	fd.done(st.ConvST, st.ConvAE)
	fw.headOut = n.cfg.TeacherChannels
	for i, c := range []*nn.Conv2d{st.Conv1, st.Conv2, st.Conv3, st.Conv4, st.Conv5} {
		if fw.pdn[i], err = fd.plain(c); err != nil {
			return nil, err
		}
	}
	for i, c := range n.AE.Enc {
		if fw.enc[i], err = fd.plain(c); err != nil {
			return nil, err
		}
	}
	for i, c := range n.AE.Dec {
		if fw.dec[i], err = fd.plain(c); err != nil {
			return nil, err
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	// Whatever the branches hold beyond their convolutions goes too: fast mode reads only fw,
	// the detector and the normalisers.
	fd.done(n.Encoder, n.Teacher, n.Student, n.AE, n.Segmentor)
	return fw, nil
}

// maybeResize is Interpolate unless t already has that size: bilinear interpolation to the
// same size copies every value exactly, so fast mode skips the copy. t may be a oneDNN tensor,
// which stays one when kept and is made dense to be resized.
func maybeResize(f *torch.Frame, t *torch.Tensor, h, w int64) *torch.Tensor {
	if sh := t.Shape(); len(sh) == 4 && sh[2] == h && sh[3] == w {
		return t
	}
	d := f.Next(t, t.ToDense(torch.Float32))
	return f.Next(d, d.Interpolate(h, w, torch.Bilinear, false))
}

// reluIn is ReLU in place, on a convolution's output that nothing else holds.
func reluIn(y *torch.Tensor) *torch.Tensor { return y.ReluInPlace() }

// dense is t (a oneDNN tensor) as a dense one, t itself freed.
func dense(f *torch.Frame, t *torch.Tensor) *torch.Tensor { return f.Next(t, t.ToDense(torch.Float32)) }

// forward runs the block on a oneDNN tensor.
func (b *fastBlock) forward(x *torch.Tensor) *torch.Tensor {
	f := torch.NewFrame(x)
	defer f.Close()
	x = f.Use(x)
	y := reluIn(b.c1.forward(x))
	y = f.Next(y, reluIn(b.c2.forward(y)))
	y = f.Next(y, b.c3.forward(y))
	short := x
	if b.down != nil {
		short = b.down.forward(x)
	}
	// The sum is written over the third convolution's output, which nothing else holds.
	return f.Return(y.AddInPlace(short, 1).ReluInPlace())
}

// encoder returns the three feature maps as oneDNN tensors, from the image as one.
func (fw *fastWeights) encoder(x *torch.Tensor) Features {
	f := torch.NewFrame(x)
	defer f.Close()
	h := reluIn(fw.stem.forward(f.Use(x)))
	h = f.Next(h, h.MaxPool2d(torch.PoolOptions{Kernel: [2]int64{3, 3}, Stride: [2]int64{2, 2}, Padding: [2]int64{1, 1}}))
	var out [3]*torch.Tensor
	for i, stage := range fw.stages {
		for j := range stage {
			h = f.Next(h, stage[j].forward(h))
		}
		out[i] = f.Return(h)
		h = f.Use(out[i])
	}
	return Features{Layer1: out[0], Layer2: out[1], Layer3: out[2]}
}

func (fw *fastWeights) segmentor(feat Features, size int64) *torch.Tensor {
	f := torch.NewFrame(feat.Layer1, feat.Layer3)
	defer f.Close()
	r := dense(f, reluIn(fw.reduce.forward(f.Use(feat.Layer1))))
	q, h := size/16, size/4
	x3 := maybeResize(f, f.Use(feat.Layer3), q, q)
	stages := make([]*torch.Tensor, 0, 5)
	for i := range fw.aspp {
		stages = append(stages, dense(f, reluIn(fw.aspp[i].forward(x3))))
	}
	pooled := dense(f, reluIn(fw.imagepool.forward(x3.AdaptiveAvgPool2d(1, 1))))
	stages = append(stages, pooled.Interpolate(q, q, torch.Bilinear, false))
	// fc1's input is a concatenation, dense; its output is dense too.
	x := reluIn(fw.fc1.forward(torch.Cat(stages, 1))).Interpolate(h, h, torch.Bilinear, false)
	x = torch.Cat([]*torch.Tensor{x, r}, 1).ToMkldnn(torch.Float32)
	x = reluIn(fw.fc2c1.forward(x))
	x = f.Next(x, reluIn(fw.fc2c2.forward(x)))
	x = dense(f, f.Next(x, fw.fc2c3.forward(x)))
	return f.Return(x.Interpolate(size, size, torch.Bilinear, false))
}

// teacher returns the normalised teacher map (t − mean)/std.
func (fw *fastWeights) teacher(feat Features, size int64) *torch.Tensor {
	f := torch.NewFrame(feat.Layer2, feat.Layer3)
	defer f.Close()
	a := maybeResize(f, dense(f, fw.proj2.forward(f.Use(feat.Layer2))), size, size)
	b := maybeResize(f, dense(f, fw.proj3.forward(f.Use(feat.Layer3))), size, size)
	// Dense: ATen's average pooling of this NCHW map is faster than two reorders and oneDNN's.
	pool := torch.PoolOptions{Kernel: [2]int64{3, 3}, Stride: [2]int64{1, 1}, Padding: [2]int64{1, 1}}
	return f.Return(a.AddInPlace(b, 1).AvgPool2d(pool).AddInPlace(fw.projBias, 1))
}

// student is LocalStudent.Forward with the fast convolutions and the merged heads, on the
// image as a oneDNN tensor.
func (fw *fastWeights) student(size int64, x *torch.Tensor) (st, ae *torch.Tensor) {
	f := torch.NewFrame(x)
	defer f.Close()
	c := &fw.pdn
	h := reluIn(c[0].forward(f.Use(x)))
	h = f.Next(h, h.AvgPool2d(avg2))
	h = f.Next(h, reluIn(c[1].forward(h)))
	h = f.Next(h, h.AvgPool2d(avg2))
	h = f.Next(h, reluIn(c[2].forward(h)))
	h = f.Next(h, reluIn(c[3].forward(h)))
	h = f.Next(h, reluIn(c[4].forward(h)))
	h = maybeResize(f, h, size, size)
	// The heads give a oneDNN tensor, or a dense one where h was resized (ToDense keeps it).
	y := f.Next(h, fw.heads.forward(h))
	y = f.Next(y, y.ToDense(torch.Float32))
	k := fw.headOut
	return f.Return(y.Narrow(1, 0, k)), f.Return(y.Narrow(1, k, k))
}

// autoencoder is AutoEncoder.Forward in evaluation mode (no dropout) with the fast convolutions:
// the encoder on oneDNN tensors from the image as one, the decoder, a resize before each
// convolution, on dense maps.
func (fw *fastWeights) autoencoder(size int64, x *torch.Tensor) *torch.Tensor {
	f := torch.NewFrame(x)
	defer f.Close()
	h := f.Use(x)
	for i := range fw.enc {
		if i < len(fw.enc)-1 {
			h = f.Next(h, reluIn(fw.enc[i].forward(h)))
		} else {
			h = f.Next(h, fw.enc[i].forward(h))
		}
	}
	h = dense(f, h)
	for i, s := range decoderSizes {
		h = maybeResize(f, h, s, s)
		h = f.Next(h, reluIn(fw.dec[i].forward(h)))
	}
	h = maybeResize(f, h, size, size)
	h = f.Next(h, reluIn(fw.dec[6].forward(h)))
	return f.Return(fw.dec[7].forward(h))
}

// forward runs every branch in fast mode on the frame's input x.
func (fw *fastWeights) forward(n *Network, x *torch.Tensor, batch int64) (ph PatchHist, t, st, ae, a *torch.Tensor) {
	// The encoder, the student and the autoencoder all start from the image: one oneDNN copy
	// serves them all, or one for the encoder and a bfloat16 one for the others.
	x = x.Contiguous()
	img := x.ToMkldnn(torch.Float32)
	feat := fw.encoder(img)
	ph = n.Detector.Forward(fw.segmentor(feat, n.cfg.ImageSize), batch)
	t = fw.teacher(feat, n.cfg.FeatureSize)
	feat.Close() // the features' last use: the student and autoencoder start from the image
	if fw.lgst != torch.Float32 {
		img.Close()
		img = x.ToMkldnn(fw.lgst)
	}
	st, ae = fw.student(n.cfg.FeatureSize, img)
	a = fw.autoencoder(n.cfg.FeatureSize, img)
	return ph, t, st, ae, a
}

// branchesTraining reports whether any branch is in training mode, where fast mode's folded
// weights would be wrong: BatchNorm then normalises with batch statistics, and gradients must
// reach the real parameters.
func (n *Network) branchesTraining() bool {
	for _, m := range []*nn.Module{&n.Module, &n.Encoder.Module, &n.Teacher.Module, &n.Student.Module, &n.AE.Module, &n.Segmentor.Module} {
		if m.Training() {
			return true
		}
	}
	return false
}

// useFast returns the fast weights when this forward pass may use them.
func (n *Network) useFast() *fastWeights {
	if n.fast == nil || n.branchesTraining() {
		return nil
	}
	return n.fast
}

// refold replaces the fast weights by ones derived from the current parameters.
func (n *Network) refold() error {
	if n.fastOnly {
		return errFastOnly
	}
	return n.fold(false)
}

// fold derives the fast weights (freeing the branches' own tensors as it goes with release)
// and puts them in place of the previous ones.
func (n *Network) fold(release bool) error {
	fw, err := newFastWeights(n, release, n.fastLGST())
	if err != nil {
		return fmt.Errorf("csad: fast mode weights: %w", err)
	}
	n.fast.close()
	n.fast = fw
	return nil
}
