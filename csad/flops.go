package csad

// FLOPs is the arithmetic of one forward pass of the network of cfg on one image: two
// floating-point operations (a multiply and an add) per multiply–accumulate of every
// convolution — encoder stem and bottlenecks (downsample shortcuts included), teacher
// projection, local student, autoencoder (its decoder at the fixed resize sizes), segmentor
// (reduce, the ASPP branches including image pooling, fc1, fc2). Biases, BatchNorm, activations,
// pooling, resizing and the patch-histogram detector are not counted; at the paper's sizes they
// are well under 1% of the total. It is the figure PyTorch forward hooks on nn.Conv2d give
// (out.numel() · in/groups · kh · kw, ×2), computed from the architecture without running it.
func FLOPs(cfg Config) int64 {
	return 2 * FLOPsByPart(cfg).Total()
}

// ConvMACs are the multiply–accumulates of one image's convolutions, per part of the network.
type ConvMACs struct {
	Encoder, Teacher, Student, AutoEncoder, Segmentor int64
}

// Total is the sum over the parts.
func (m ConvMACs) Total() int64 {
	return m.Encoder + m.Teacher + m.Student + m.AutoEncoder + m.Segmentor
}

// convOut is a convolution's (or pooling's) output side.
func convOut(in, k, stride, pad, dil int64) int64 {
	return (in+2*pad-dil*(k-1)-1)/stride + 1
}

// macs of a square convolution with a square input of side in; returns the MACs and the output
// side.
func macs(in, cin, cout, k, stride, pad, dil int64) (int64, int64) {
	out := convOut(in, k, stride, pad, dil)
	return out * out * cout * cin * k * k, out
}

// FLOPsByPart splits the multiply–accumulates of FLOPs by part of the network.
func FLOPsByPart(cfg Config) ConvMACs {
	var r ConvMACs
	add := func(dst *int64, in, cin, cout, k, stride, pad, dil int64) int64 {
		m, out := macs(in, cin, cout, k, stride, pad, dil)
		*dst += m
		return out
	}
	size := cfg.ImageSize

	// Encoder: stem 7×7/2/3, max-pool 3/2/1, three stages of ResNet v1.5 bottlenecks.
	ec := cfg.Encoder
	s := add(&r.Encoder, size, 3, ec.Stem, 7, 2, 3, 1)
	s = convOut(s, 3, 2, 1, 1)
	in := ec.Stem
	var sides [3]int64
	for i := range 3 {
		for j := range ec.Blocks[i] {
			stride := int64(1)
			if i > 0 && j == 0 {
				stride = 2
			}
			mid, out := ec.Mid[i], ec.Out[i]
			add(&r.Encoder, s, in, mid, 1, 1, 0, 1)
			o := add(&r.Encoder, s, mid, mid, 3, stride, 1, 1)
			add(&r.Encoder, o, mid, out, 1, 1, 0, 1)
			if stride != 1 || in != out { // the same condition as newBottleneck
				add(&r.Encoder, s, in, out, 1, stride, 0, 1)
			}
			s, in = o, out
		}
		sides[i] = s
	}

	// Teacher head: 1×1 projection of [layer2, layer3] resized to the feature size.
	fs := cfg.FeatureSize
	add(&r.Teacher, fs, ec.Out[1]+ec.Out[2], cfg.TeacherChannels, 1, 1, 0, 1)

	// Local student (padding=True); the pools are 2/2/1.
	c1, w, tc := cfg.Student.Conv1, cfg.Student.Width, cfg.TeacherChannels
	s = add(&r.Student, size, 3, c1, 4, 1, 3, 1)
	s = convOut(s, 2, 2, 1, 1)
	s = add(&r.Student, s, c1, w, 4, 1, 3, 1)
	s = convOut(s, 2, 2, 1, 1)
	s = add(&r.Student, s, w, w, 1, 1, 0, 1)
	s = add(&r.Student, s, w, w, 3, 1, 1, 1)
	add(&r.Student, s, w, w, 4, 1, 0, 1)
	// The trunk's output is resized to the feature size before both heads.
	add(&r.Student, fs, w, tc, 1, 1, 0, 1)
	add(&r.Student, fs, w, tc, 1, 1, 0, 1)

	// Autoencoder: five 4/2/1 encoder convs and an 8×8 one; the decoder convs run on the fixed
	// resize sizes, then deconv7 and deconv8 on the feature size.
	b, m := cfg.AutoEncoder.Base, cfg.AutoEncoder.Mid
	s = size
	for _, io := range [5][2]int64{{3, b}, {b, b}, {b, m}, {m, m}, {m, m}} {
		s = add(&r.AutoEncoder, s, io[0], io[1], 4, 2, 1, 1)
	}
	add(&r.AutoEncoder, s, m, m, 8, 1, 0, 1)
	for _, ds := range decoderSizes {
		add(&r.AutoEncoder, ds, m, m, 4, 1, 2, 1)
	}
	add(&r.AutoEncoder, fs, m, m, 3, 1, 1, 1)
	add(&r.AutoEncoder, fs, m, tc, 3, 1, 1, 1)

	// Segmentor: reduce on layer1; ASPP on layer3 resized to size/16 (1×1, three dilated 3×3,
	// image pooling's 1×1 on the 1×1 average); fc1; fc2 at size/4.
	sc := cfg.Segmentor
	q, h := size/16, size/4
	add(&r.Segmentor, sides[0], ec.Out[0], sc.Reduce, 1, 1, 0, 1)
	add(&r.Segmentor, q, ec.Out[2], sc.Width, 1, 1, 0, 1)
	for _, d := range sc.Dilations {
		add(&r.Segmentor, q, ec.Out[2], sc.Width, 3, 1, d, d)
	}
	add(&r.Segmentor, 1, ec.Out[2], sc.Width, 1, 1, 0, 1)
	add(&r.Segmentor, q, int64(len(sc.Dilations)+2)*sc.Width, sc.Width, 1, 1, 0, 1)
	add(&r.Segmentor, h, sc.Width+sc.Reduce, sc.Width, 3, 1, 1, 1)
	add(&r.Segmentor, h, sc.Width, sc.Width, 3, 1, 1, 1)
	add(&r.Segmentor, h, sc.Width, sc.Classes, 1, 1, 0, 1)
	return r
}
