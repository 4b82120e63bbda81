package csad

import (
	"fmt"
	"strings"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// ImportUnified loads an official unified checkpoint (ckpt/pytorch_models/<category>.pth, a
// plain state dict written by export_model.py) exactly as stored. Its teacher.proj.bias is the
// random draw the official export left there (docs/method.md#quirks); it is kept, because the
// official scores were computed with it.
func ImportUnified(path string) (*Network, error) {
	s := torch.NewScope()
	defer s.Close()
	ts, err := torch.LoadTensors(s, path)
	if err != nil {
		return nil, fmt.Errorf("csad: import %s: %w", path, err)
	}
	cfg, err := InferConfig(ts)
	if err != nil {
		return nil, fmt.Errorf("csad: import %s: %w", path, err)
	}
	net, err := NewNetwork(cfg)
	if err != nil {
		return nil, fmt.Errorf("csad: import %s: %w", path, err)
	}
	if err := nn.LoadStateDict(net, ts, true); err != nil {
		net.Close()
		return nil, fmt.Errorf("csad: import %s: %w", path, err)
	}
	return net, nil
}

// LoadEncoderWeights copies ImageNet WideResNet-50-2 weights from a torchvision or timm
// checkpoint (.pth or .safetensors; the names are the same) into net's encoder. layer4.* and
// fc.* are not part of the encoder and are skipped; everything else must match.
func LoadEncoderWeights(net *Network, path string) error {
	s := torch.NewScope()
	defer s.Close()
	ts, err := torch.LoadTensors(s, path)
	if err != nil {
		return fmt.Errorf("csad: encoder weights %s: %w", path, err)
	}
	var keep []torch.Named
	for _, n := range ts {
		name := strings.TrimPrefix(n.Name, "encoder.")
		if strings.HasPrefix(name, "layer4.") || strings.HasPrefix(name, "fc.") {
			continue
		}
		keep = append(keep, torch.Named{Name: name, Tensor: n.Tensor})
	}
	if err := nn.LoadStateDict(net.Encoder, keep, true); err != nil {
		return fmt.Errorf("csad: encoder weights %s: %w", path, err)
	}
	return nil
}
