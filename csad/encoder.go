package csad

import (
	"strconv"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// bottleneck is a ResNet v1.5 bottleneck (stride on the 3×3 convolution), named as timm and
// torchvision name it: conv1/bn1, conv2/bn2, conv3/bn3, downsample.0/downsample.1.
type bottleneck struct {
	nn.Module
	c1, c2, c3 convBN
	down       *convBN
}

func newBottleneck(in, mid, out, stride int64) *bottleneck {
	b := &bottleneck{}
	m := &b.Module
	b.c1.conv = nn.RegisterModule(m, "conv1", conv(in, mid, 1, nn.Conv2dConfig{NoBias: true}))
	b.c1.bn = nn.RegisterModule(m, "bn1", nn.NewBatchNorm2d(mid))
	b.c2.conv = nn.RegisterModule(m, "conv2", conv(mid, mid, 3, nn.Conv2dConfig{Stride: stride, Padding: 1, NoBias: true}))
	b.c2.bn = nn.RegisterModule(m, "bn2", nn.NewBatchNorm2d(mid))
	b.c3.conv = nn.RegisterModule(m, "conv3", conv(mid, out, 1, nn.Conv2dConfig{NoBias: true}))
	b.c3.bn = nn.RegisterModule(m, "bn3", nn.NewBatchNorm2d(out))
	if stride != 1 || in != out {
		dc := conv(in, out, 1, nn.Conv2dConfig{Stride: stride, NoBias: true})
		dbn := nn.NewBatchNorm2d(out)
		nn.RegisterModule(m, "downsample", nn.NewSequential(dc, dbn))
		b.down = &convBN{conv: dc, bn: dbn}
	}
	return b
}

func (b *bottleneck) Forward(x *torch.Tensor) *torch.Tensor {
	f := torch.NewFrame(x)
	defer f.Close()
	x = f.Use(x)
	y := b.c1.forward(x, true)
	y = f.Next(y, b.c2.forward(y, true))
	y = f.Next(y, b.c3.forward(y, false))
	short := x
	if b.down != nil {
		short = b.down.forward(x, false)
	}
	return f.Return(y.Add(short).Relu())
}

// Encoder is the frozen feature extractor: a ResNet with bottlenecks returning layer1..layer3
// (WideResNet-50-2 at the paper's sizes), with timm's features_only parameter names.
type Encoder struct {
	nn.Module
	stem   convBN
	stages [3][]*bottleneck
}

// NewEncoder builds the encoder of cfg.
func NewEncoder(cfg Config) *Encoder {
	e := &Encoder{}
	m := &e.Module
	ec := cfg.Encoder
	e.stem.conv = nn.RegisterModule(m, "conv1", conv(3, ec.Stem, 7, nn.Conv2dConfig{Stride: 2, Padding: 3, NoBias: true}))
	e.stem.bn = nn.RegisterModule(m, "bn1", nn.NewBatchNorm2d(ec.Stem))
	in := ec.Stem
	for i := range 3 {
		stride := int64(2)
		if i == 0 {
			stride = 1
		}
		seq := nn.NewSequential()
		for j := range ec.Blocks[i] {
			s := int64(1)
			if j == 0 {
				s = stride
			}
			b := newBottleneck(in, ec.Mid[i], ec.Out[i], s)
			seq.Append(b)
			e.stages[i] = append(e.stages[i], b)
			in = ec.Out[i]
		}
		nn.RegisterModule(m, "layer"+strconv.Itoa(i+1), seq)
	}
	return e
}

// Features are the encoder's outputs: layer1 (B, 256, 64, 64), layer2 (B, 512, 32, 32) and
// layer3 (B, 1024, 16, 16) at the paper's sizes.
type Features struct {
	Layer1, Layer2, Layer3 *torch.Tensor
}

// Close frees the three feature maps.
func (f Features) Close() {
	f.Layer1.Close()
	f.Layer2.Close()
	f.Layer3.Close()
}

// Forward returns the outputs of layer1, layer2 and layer3. Each bottleneck frees its own
// intermediates, and each block's input is dropped once the next block has run.
func (e *Encoder) Forward(x *torch.Tensor) Features {
	f := torch.NewFrame(x)
	defer f.Close()
	h := e.stem.forward(f.Use(x), true)
	h = f.Next(h, h.MaxPool2d(torch.PoolOptions{Kernel: [2]int64{3, 3}, Stride: [2]int64{2, 2}, Padding: [2]int64{1, 1}}))
	var out [3]*torch.Tensor
	for i, stage := range e.stages {
		for _, b := range stage {
			h = f.Next(h, b.Forward(h))
		}
		out[i] = f.Return(h)
		h = f.Use(out[i])
	}
	return Features{Layer1: out[0], Layer2: out[1], Layer3: out[2]}
}
