package csad

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// WideResNet-50-2's layer4 (the pseudo-label stage's CNN feature, spec §5.4): three
// bottlenecks from layer3's 1024 channels to 2048, 3×3 width 1024, stride 2 on the first.
const (
	layer4Blocks = 3
	layer4Mid    = 1024
	layer4Out    = 2048
	// FeatureChannels is the channel count of FeatureExtractor.Forward's output.
	FeatureChannels = layer4Out
)

// layer4 holds the stage under its torchvision/timm name, so that its state dict names are
// layer4.N.conv1.weight and so on, as in the checkpoint.
type layer4 struct {
	nn.Module
	blocks []*bottleneck
}

func newLayer4(in int64) *layer4 {
	l := &layer4{}
	seq := nn.NewSequential()
	for j := range layer4Blocks {
		s := int64(1)
		if j == 0 {
			s = 2
		}
		b := newBottleneck(in, layer4Mid, layer4Out, s)
		seq.Append(b)
		l.blocks = append(l.blocks, b)
		in = layer4Out
	}
	nn.RegisterModule(&l.Module, "layer4", seq)
	return l
}

// FeatureExtractor is WideResNet-50-2 up to and including layer4, in evaluation mode: the
// network the official pseudo-label stage describes components with (timm features_only,
// out_indices=[4]). The scorer's Encoder stops at layer3, so the extractor is a separate
// model, loaded only for the pseudo-label stage.
type FeatureExtractor struct {
	enc *Encoder
	l4  *layer4
}

// LoadFeatureExtractor reads a torchvision or timm wide_resnet50_2 checkpoint (.pth or
// .safetensors) that includes layer4; fc.* is ignored. A checkpoint without layer4 (such as an
// encoder-only or CSAD model file) is an error that names the missing weights.
func LoadFeatureExtractor(path string) (_ *FeatureExtractor, err error) {
	s := torch.NewScope()
	defer s.Close()
	ts, err := torch.LoadTensors(s, path)
	if err != nil {
		return nil, fmt.Errorf("csad: feature extractor %s: %w", path, err)
	}
	fe := &FeatureExtractor{enc: NewEncoder(PaperConfig(2)), l4: newLayer4(1024)}
	defer func() {
		if err != nil {
			fe.Close()
		}
	}()
	var encKeys, l4Keys []torch.Named
	have := map[string]bool{}
	for _, n := range ts {
		name := strings.TrimPrefix(n.Name, "encoder.")
		have[name] = true
		switch {
		case strings.HasPrefix(name, "fc."):
		case strings.HasPrefix(name, "layer4."):
			l4Keys = append(l4Keys, torch.Named{Name: name, Tensor: n.Tensor})
		default:
			encKeys = append(encKeys, torch.Named{Name: name, Tensor: n.Tensor})
		}
	}
	var missing []string
	for _, n := range nn.StateDict(fe.l4) {
		if !have[n.Name] {
			missing = append(missing, n.Name)
		}
	}
	if len(missing) > 0 {
		shown := missing[:min(len(missing), 4)]
		more := ""
		if len(missing) > len(shown) {
			more = fmt.Sprintf(" and %d more", len(missing)-len(shown))
		}
		return nil, fmt.Errorf("csad: feature extractor %s: the checkpoint lacks %d of the %d layer4 weights (%s%s); the CNN component feature needs a full wide_resnet50_2 checkpoint with layer4 (torchvision or timm ImageNet weights), not an encoder-only or CSAD model file",
			path, len(missing), len(nn.StateDict(fe.l4)), strings.Join(shown, ", "), more)
	}
	if err := nn.LoadStateDict(fe.enc, encKeys, true); err != nil {
		return nil, fmt.Errorf("csad: feature extractor %s (layers 1-3): %w", path, err)
	}
	if err := nn.LoadStateDict(fe.l4, l4Keys, true); err != nil {
		return nil, fmt.Errorf("csad: feature extractor %s (layer4): %w", path, err)
	}
	nn.SetTraining(fe.enc, false)
	nn.SetTraining(fe.l4, false)
	return fe, nil
}

// Forward returns layer4's output, (B, 2048, H/32, W/32), for ImageNet-normalised images x
// (B, 3, H, W). Each block's input is freed once the next block has run.
func (fe *FeatureExtractor) Forward(x *torch.Tensor) *torch.Tensor {
	f := torch.NewFrame(x)
	defer f.Close()
	e := fe.enc
	h := e.stem.forward(f.Use(x), true)
	h = f.Next(h, h.MaxPool2d(torch.PoolOptions{Kernel: [2]int64{3, 3}, Stride: [2]int64{2, 2}, Padding: [2]int64{1, 1}}))
	for _, b := range slices.Concat(e.stages[0], e.stages[1], e.stages[2], fe.l4.blocks) {
		h = f.Next(h, b.Forward(h))
	}
	return f.Return(h)
}

// Close frees the weights. It is idempotent.
func (fe *FeatureExtractor) Close() error {
	if fe == nil {
		return nil
	}
	return errors.Join(nn.Close(fe.enc), nn.Close(fe.l4))
}
