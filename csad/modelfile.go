package csad

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
)

// ModelFormat and ModelVersion identify .csad files; readers refuse newer versions.
const (
	ModelFormat  = "csad-model"
	ModelVersion = 1
)

// Header is the JSON description stored in a .csad file next to the weights.
type Header struct {
	Format    string             `json:"format"`
	Version   int                `json:"version"`
	Category  string             `json:"category"`
	Classes   int64              `json:"classes"`
	ImageSize int64              `json:"image_size"`
	Preset    string             `json:"preset"` // "paper", "cpu" or "custom"
	Config    Config             `json:"config"`
	Normalise map[string]float64 `json:"normalisers"` // the scalar statistics, for people reading the header
	// Threshold is the operating point: a fused score above it is anomalous. Training sets it to
	// the ThresholdQuantile of the good validation images' scores; imported models have none.
	Threshold         *float64        `json:"threshold,omitempty"`
	ThresholdQuantile float64         `json:"threshold_quantile,omitempty"`
	Training          json.RawMessage `json:"training,omitempty"` // the resolved training options
	Provenance        Provenance      `json:"provenance"`
}

// Provenance records where a model file came from.
type Provenance struct {
	Tool    string `json:"tool"`
	Source  string `json:"source,omitempty"`  // e.g. the imported checkpoint's path
	Note    string `json:"note,omitempty"`    // e.g. "official unified checkpoint (proj.bias as stored)"
	Created string `json:"created,omitempty"` // RFC 3339
	Torch   string `json:"torch,omitempty"`   // LibTorch version that wrote it
}

// presetOf names cfg's preset.
func presetOf(cfg Config) string {
	switch {
	case reflect.DeepEqual(cfg, PaperConfig(cfg.Segmentor.Classes)):
		return "paper"
	case reflect.DeepEqual(cfg, SmallConfig(cfg.Segmentor.Classes)):
		return "cpu"
	}
	return "custom"
}

// NewHeader describes net for a model file.
func NewHeader(net *Network, category string, prov Provenance) (Header, error) {
	if net.fastOnly {
		return Header{}, errFastOnly
	}
	cfg := net.Config()
	h := Header{
		Format: ModelFormat, Version: ModelVersion, Category: category, Classes: cfg.Segmentor.Classes,
		ImageSize: cfg.ImageSize, Preset: presetOf(cfg), Config: cfg, Normalise: map[string]float64{},
		Provenance: prov,
	}
	if h.Provenance.Created == "" {
		h.Provenance.Created = time.Now().UTC().Format(time.RFC3339)
	}
	h.Provenance.Torch = torch.Version()
	for _, n := range nn.StateDict(net) {
		if n.Tensor.Dim() == 0 && n.Tensor.DType() == torch.Float32 {
			v, err := n.Tensor.Item()
			if err != nil {
				return h, err
			}
			h.Normalise[n.Name] = v
		}
	}
	return h, nil
}

// SaveModel writes net and its header as one .csad file (safetensors with the header as JSON
// metadata), atomically.
func SaveModel(path string, net *Network, h Header) error {
	if net.fastOnly {
		return fmt.Errorf("csad: save %s: %w", path, errFastOnly)
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("csad: save %s: %w", path, err)
	}
	if err := torch.SaveTensorsMeta(path, nn.StateDict(net), map[string]string{"csad": string(hb)}); err != nil {
		return fmt.Errorf("csad: save %s: %w", path, err)
	}
	return nil
}

// LoadModel reads a .csad file: the header, then a network of the header's config whose every
// tensor must be present with the right shape (the error names each bad key). The header is
// checked against the stored tensors' shapes before the network is allocated, so a damaged or
// hostile header cannot make the loader allocate more than the file holds. The weights are read
// from the file straight into the network's tensors: loading holds them once, as the model
// does afterwards, with no copy of the file or of the tensors beside them.
func LoadModel(path string) (*Network, Header, error) {
	f, h, err := openModel(path)
	if err != nil {
		return nil, h, err
	}
	defer f.Close()
	net, err := NewNetwork(h.Config)
	if err != nil {
		return nil, h, fmt.Errorf("csad: load model %s: %w", path, err)
	}
	if err := loadWeights(f, net); err != nil {
		net.Close()
		return nil, h, fmt.Errorf("csad: load model %s: %w", path, err)
	}
	return net, h, nil
}

// loadWeights fills net's parameters and buffers from f, matched by name, with the checks of
// nn.LoadStateDict(strict): nothing is written unless every name is there with its shape, and
// the error lists every key that is not. A tensor of the model's dtype is read from the file
// into the model's own memory; any other (a float64 statistic, say) is converted as Assign does.
func loadWeights(f *torch.SafetensorsFile, net *Network) error {
	own := nn.StateDict(net)
	e := &nn.LoadError{}
	ownNames := make(map[string]bool, len(own))
	for _, n := range own {
		ownNames[n.Name] = true
		ent, ok := f.Entry(n.Name)
		if !ok {
			e.Missing = append(e.Missing, n.Name)
			continue
		}
		if err := n.Tensor.Err(); err != nil {
			e.Failed = append(e.Failed, n.Name+": "+err.Error())
			continue
		}
		if want := n.Tensor.Shape(); !slices.Equal(ent.Shape, want) {
			e.Mismatched = append(e.Mismatched, fmt.Sprintf("%s: checkpoint %v vs model %v", n.Name, ent.Shape, want))
		}
	}
	for _, ent := range f.Entries() {
		if !ownNames[ent.Name] {
			e.Unexpected = append(e.Unexpected, ent.Name)
		}
	}
	slices.Sort(e.Unexpected)
	if len(e.Missing) > 0 || len(e.Unexpected) > 0 || len(e.Mismatched) > 0 || len(e.Failed) > 0 {
		return e
	}
	for _, n := range own {
		ent, _ := f.Entry(n.Name)
		d, ok := torch.DTypeFromCheckpoint(ent.DType)
		var err error
		if ok && d == n.Tensor.DType() && n.Tensor.IsContiguous() && n.Tensor.Device().Type == torch.DeviceCPU {
			err = f.ReadInto(n.Name, n.Tensor)
		} else {
			t := f.Load(nil, n.Name)
			if err = t.Err(); err == nil {
				err = n.Tensor.Assign(t)
			}
			t.Close()
		}
		if err != nil {
			e.Failed = append(e.Failed, n.Name+": "+err.Error())
		}
	}
	if len(e.Failed) > 0 {
		return e
	}
	return nil
}

// checkHeader parses a model header and checks it against the shapes of the stored tensors.
// Pure Go, so it is fuzzed without LibTorch.
func checkHeader(raw []byte, sh shapes) (Header, error) {
	var h Header
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, fmt.Errorf("bad header: %w", err)
	}
	if h.Format != ModelFormat || h.Version < 1 || h.Version > ModelVersion {
		return h, fmt.Errorf("format %q version %d; this build reads %s versions 1..%d", h.Format, h.Version, ModelFormat, ModelVersion)
	}
	if err := h.Config.Validate(); err != nil {
		return h, fmt.Errorf("header: %w", err)
	}
	stored, err := inferConfig(sh)
	if err != nil {
		return h, fmt.Errorf("weights: %w", err)
	}
	// The dilations are the one size the tensors do not carry.
	stored.Segmentor.Dilations = h.Config.Segmentor.Dilations
	if d := h.Config.mismatches(stored); len(d) > 0 {
		return h, fmt.Errorf("header config does not match the stored weights (header ≠ weights): %s", strings.Join(d, ", "))
	}
	return h, nil
}

func shapesOf(ts []torch.Named) shapes {
	s := shapes{}
	for _, n := range ts {
		s[n.Name] = n.Tensor.Shape()
	}
	return s
}

// shapes maps state-dict names to shapes.
type shapes map[string][]int64

func (s shapes) dim(name string, i int) (int64, error) {
	sh, ok := s[name]
	if !ok {
		return 0, fmt.Errorf("missing key %s", name)
	}
	if i >= len(sh) {
		return 0, fmt.Errorf("key %s has shape %v", name, sh)
	}
	return sh[i], nil
}

// InferConfig derives the sizes of a unified checkpoint from its tensor shapes, so paper-size
// and reduced checkpoints import alike. The ASPP dilations are not stored; they are the paper's.
func InferConfig(ts []torch.Named) (Config, error) { return inferConfig(shapesOf(ts)) }

func inferConfig(s shapes) (Config, error) {
	var c Config
	var errs []string
	get := func(dst *int64, name string, i int) {
		v, err := s.dim(name, i)
		if err != nil {
			errs = append(errs, err.Error())
		}
		*dst = v
	}
	get(&c.Encoder.Stem, "encoder.conv1.weight", 0)
	for l := 1; l <= 3; l++ {
		var blocks int64
		for ; blocks <= maxBlocks; blocks++ {
			if _, ok := s[fmt.Sprintf("encoder.layer%d.%d.conv1.weight", l, blocks)]; !ok {
				break
			}
		}
		var mid, out int64
		get(&mid, fmt.Sprintf("encoder.layer%d.0.conv2.weight", l), 0)
		get(&out, fmt.Sprintf("encoder.layer%d.0.conv3.weight", l), 0)
		c.Encoder.Blocks = append(c.Encoder.Blocks, blocks)
		c.Encoder.Mid = append(c.Encoder.Mid, mid)
		c.Encoder.Out = append(c.Encoder.Out, out)
	}
	get(&c.TeacherChannels, "teacher.proj.weight", 0)
	get(&c.Student.Conv1, "local_st.conv1.weight", 0)
	get(&c.Student.Width, "local_st.conv2.weight", 0)
	get(&c.AutoEncoder.Base, "autoencoder.enconv1.weight", 0)
	get(&c.AutoEncoder.Mid, "autoencoder.enconv3.weight", 0)
	get(&c.Segmentor.Reduce, "segmentor.reduce.conv.weight", 0)
	get(&c.Segmentor.Width, "segmentor.fc1.conv.weight", 0)
	get(&c.Segmentor.Classes, "segmentor.fc2.conv3.weight", 0)
	// The autoencoder's last encoder kernel is ImageSize/32 (8 at the paper's 256 px).
	var k int64
	get(&k, "autoencoder.enconv6.weight", 3)
	c.ImageSize, c.FeatureSize = 32*k, 8*k
	c.Segmentor.Dilations = []int64{6, 12, 18}
	if len(errs) > 0 {
		return c, fmt.Errorf("not a CSAD unified checkpoint: %s", strings.Join(errs, "; "))
	}
	return c, c.Validate()
}

// ReadHeader reads and checks a .csad file's header against its tensors' shapes without loading
// the weights (backends that do not run LibTorch need only the header).
func ReadHeader(path string) (Header, error) {
	f, h, err := openModel(path)
	if err != nil {
		return h, err
	}
	f.Close()
	return h, nil
}

// openModel opens a .csad file and checks its header; the caller closes the file.
func openModel(path string) (*torch.SafetensorsFile, Header, error) {
	f, err := torch.OpenSafetensors(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			// The path is named once, where every other load error names it.
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, Header{}, fmt.Errorf("csad: load model %s: %w", path, err)
		}
		return nil, Header{}, fmt.Errorf("csad: load model %s: not a .csad file (convert checkpoints with 'csad import'): %w", path, err)
	}
	raw, ok := f.Metadata()["csad"]
	if !ok {
		f.Close()
		return nil, Header{}, fmt.Errorf("csad: load model %s: no csad header: not a .csad file (convert checkpoints with 'csad import')", path)
	}
	sh := shapes{}
	for _, e := range f.Entries() {
		sh[e.Name] = e.Shape
	}
	h, err := checkHeader([]byte(raw), sh)
	if err != nil {
		f.Close()
		return nil, h, fmt.Errorf("csad: load model %s: %w", path, err)
	}
	return f, h, nil
}
