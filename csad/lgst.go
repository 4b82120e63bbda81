package csad

import (
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// TeacherHead turns encoder features into the teacher's (B, C, 64, 64) map: layer2 and layer3
// resized to 64×64, concatenated, 3×3 average-pooled, projected by a frozen random 1×1 conv.
type TeacherHead struct {
	nn.Module
	Proj *nn.Conv2d
	size int64
}

// NewTeacherHead builds the head of cfg.
func NewTeacherHead(cfg Config) *TeacherHead {
	t := &TeacherHead{size: cfg.FeatureSize}
	t.Proj = nn.RegisterModule(&t.Module, "proj", conv(cfg.Encoder.Out[1]+cfg.Encoder.Out[2], cfg.TeacherChannels, 1, nn.Conv2dConfig{}))
	return t
}

// Forward returns the raw (unnormalised) teacher map of the layer2 and layer3 features.
func (t *TeacherHead) Forward(feat Features) *torch.Tensor {
	// The pooled features (25 MB an image at paper size) go as soon as the projection has them.
	p := t.Pooled(feat)
	out := t.Proj.Forward(p)
	p.Close()
	return out
}

// Pooled is everything before the projection: layer2 and layer3 resized to the map size,
// concatenated and 3×3 average-pooled.
func (t *TeacherHead) Pooled(feat Features) *torch.Tensor {
	f := torch.NewFrame(feat.Layer2, feat.Layer3)
	defer f.Close()
	a := f.Use(feat.Layer2).Interpolate(t.size, t.size, torch.Bilinear, false)
	b := f.Use(feat.Layer3).Interpolate(t.size, t.size, torch.Bilinear, false)
	pool := torch.PoolOptions{Kernel: [2]int64{3, 3}, Stride: [2]int64{1, 1}, Padding: [2]int64{1, 1}}
	return f.Return(torch.Cat([]*torch.Tensor{a, b}, 1).AvgPool2d(pool))
}

var avg2 = torch.PoolOptions{Kernel: [2]int64{2, 2}, Stride: [2]int64{2, 2}, Padding: [2]int64{1, 1}}

// pdnTrunk is what LocalStudent and PDN_M share: conv1..conv4 with ReLUs and two 2×2 average
// pools (padding=True variant).
type pdnTrunk struct {
	Conv1, Conv2, Conv3, Conv4 *nn.Conv2d
}

func newPDNTrunk(m *nn.Module, cfg Config) pdnTrunk {
	w := cfg.Student.Width
	return pdnTrunk{
		Conv1: nn.RegisterModule(m, "conv1", conv(3, cfg.Student.Conv1, 4, nn.Conv2dConfig{Padding: 3})),
		Conv2: nn.RegisterModule(m, "conv2", conv(cfg.Student.Conv1, w, 4, nn.Conv2dConfig{Padding: 3})),
		Conv3: nn.RegisterModule(m, "conv3", conv(w, w, 1, nn.Conv2dConfig{})),
		Conv4: nn.RegisterModule(m, "conv4", conv(w, w, 3, nn.Conv2dConfig{Padding: 1})),
	}
}

// forward runs conv1..conv4, dropping each layer's input once the next has run.
func (t *pdnTrunk) forward(f *torch.Frame, x *torch.Tensor) *torch.Tensor {
	h := relu(f, t.Conv1.Forward(x))
	h = f.Next(h, h.AvgPool2d(avg2))
	h = f.Next(h, relu(f, t.Conv2.Forward(h)))
	h = f.Next(h, h.AvgPool2d(avg2))
	h = f.Next(h, relu(f, t.Conv3.Forward(h)))
	return f.Next(h, relu(f, t.Conv4.Forward(h)))
}

// LocalStudent is the trainable local student (EfficientAD PDN-M trunk with two 1×1 heads).
type LocalStudent struct {
	nn.Module
	pdnTrunk
	Conv5, ConvST, ConvAE *nn.Conv2d
	size                  int64
}

// NewLocalStudent builds the student of cfg (padding=True, as CSAD trains it).
func NewLocalStudent(cfg Config) *LocalStudent {
	s := &LocalStudent{size: cfg.FeatureSize}
	m := &s.Module
	w := cfg.Student.Width
	s.pdnTrunk = newPDNTrunk(m, cfg)
	s.Conv5 = nn.RegisterModule(m, "conv5", conv(w, w, 4, nn.Conv2dConfig{}))
	s.ConvST = nn.RegisterModule(m, "conv_st", conv(w, cfg.TeacherChannels, 1, nn.Conv2dConfig{}))
	s.ConvAE = nn.RegisterModule(m, "conv_ae", conv(w, cfg.TeacherChannels, 1, nn.Conv2dConfig{}))
	return s
}

// Forward returns the local (st) and global (ae) outputs.
func (s *LocalStudent) Forward(x *torch.Tensor) (st, ae *torch.Tensor) {
	f := torch.NewFrame(x)
	defer f.Close()
	h := s.forward(f, f.Use(x))
	h = f.Next(h, relu(f, s.Conv5.Forward(h)))
	h = f.Next(h, h.Interpolate(s.size, s.size, torch.Bilinear, false))
	return f.Return(s.ConvST.Forward(h)), f.Return(s.ConvAE.Forward(h))
}

// PDNM is EfficientAD's medium patch description network with a doubled output split into
// st and ae halves. CSAD defines it but trains LocalStudent instead.
type PDNM struct {
	nn.Module
	pdnTrunk
	Conv5, Conv6 *nn.Conv2d
	out, size    int64
}

// NewPDNM builds PDN_M for cfg.
func NewPDNM(cfg Config) *PDNM {
	p := &PDNM{out: cfg.TeacherChannels, size: cfg.FeatureSize}
	m := &p.Module
	p.pdnTrunk = newPDNTrunk(m, cfg)
	p.Conv5 = nn.RegisterModule(m, "conv5", conv(cfg.Student.Width, 2*cfg.TeacherChannels, 4, nn.Conv2dConfig{}))
	p.Conv6 = nn.RegisterModule(m, "conv6", conv(2*cfg.TeacherChannels, 2*cfg.TeacherChannels, 1, nn.Conv2dConfig{}))
	return p
}

// Forward returns the st and ae halves.
func (p *PDNM) Forward(x *torch.Tensor) (st, ae *torch.Tensor) {
	f := torch.NewFrame(x)
	defer f.Close()
	h := p.forward(f, f.Use(x))
	h = f.Next(h, relu(f, p.Conv5.Forward(h)))
	h = f.Next(h, p.Conv6.Forward(h))
	h = f.Next(h, h.Interpolate(p.size, p.size, torch.Bilinear, false))
	return f.Return(h.Narrow(1, 0, p.out)), f.Return(h.Narrow(1, p.out, p.out))
}

// AutoEncoder is the global branch's autoencoder (EfficientAD's, base_dim 64 → 512 channels).
type AutoEncoder struct {
	nn.Module
	Enc  [6]*nn.Conv2d
	Dec  [8]*nn.Conv2d
	size int64
}

// decoderSizes are the fixed bilinear resize targets before deconv1..deconv6.
var decoderSizes = [6]int64{3, 8, 15, 32, 63, 127}

// NewAutoEncoder builds the autoencoder of cfg.
func NewAutoEncoder(cfg Config) *AutoEncoder {
	a := &AutoEncoder{size: cfg.FeatureSize}
	m := &a.Module
	b, w := cfg.AutoEncoder.Base, cfg.AutoEncoder.Mid
	s2 := nn.Conv2dConfig{Stride: 2, Padding: 1}
	encIO := [6][2]int64{{3, b}, {b, b}, {b, w}, {w, w}, {w, w}, {w, w}}
	for i, io := range encIO {
		k, c := int64(4), s2
		if i == 5 {
			// The last encoder convolution sees the whole ImageSize/32 map: 8×8 at 256 px.
			k, c = cfg.ImageSize/32, nn.Conv2dConfig{}
		}
		a.Enc[i] = nn.RegisterModule(m, "enconv"+string(rune('1'+i)), conv(io[0], io[1], k, c))
	}
	for i := range 6 {
		a.Dec[i] = nn.RegisterModule(m, "deconv"+string(rune('1'+i)), conv(w, w, 4, nn.Conv2dConfig{Padding: 2}))
	}
	a.Dec[6] = nn.RegisterModule(m, "deconv7", conv(w, w, 3, nn.Conv2dConfig{Padding: 1}))
	a.Dec[7] = nn.RegisterModule(m, "deconv8", conv(w, cfg.TeacherChannels, 3, nn.Conv2dConfig{Padding: 1}))
	return a
}

// Forward reconstructs the teacher map from the image; dropout is active in training mode.
func (a *AutoEncoder) Forward(x *torch.Tensor) *torch.Tensor {
	f := torch.NewFrame(x)
	defer f.Close()
	h := f.Use(x)
	for i, c := range a.Enc {
		if i < len(a.Enc)-1 {
			h = f.Next(h, c.Forward(h).Relu())
		} else {
			h = f.Next(h, c.Forward(h))
		}
	}
	train := a.Training()
	for i, size := range decoderSizes {
		h = f.Next(h, h.Interpolate(size, size, torch.Bilinear, false))
		h = f.Next(h, a.Dec[i].Forward(h).Relu().Dropout(0.2, train))
	}
	h = f.Next(h, h.Interpolate(a.size, a.size, torch.Bilinear, false))
	h = f.Next(h, a.Dec[6].Forward(h).Relu())
	return f.Return(a.Dec[7].Forward(h))
}
