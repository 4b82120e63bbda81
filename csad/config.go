package csad

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Config fixes every size of the networks. The paper's sizes are PaperConfig; tests and small
// CPU runs use reduced widths with the same structure (SmallConfig). It is stored in model files
// as JSON, with the same field names the Python reference script uses.
type Config struct {
	ImageSize   int64 `json:"image_size"`   // network input, square
	FeatureSize int64 `json:"feature_size"` // teacher/student map size
	Encoder     struct {
		Stem   int64   `json:"stem"`   // stem conv width
		Blocks []int64 `json:"blocks"` // bottlenecks per stage (layer1..layer3)
		Mid    []int64 `json:"mid"`    // 3×3 conv width per stage
		Out    []int64 `json:"out"`    // output channels per stage
	} `json:"encoder"`
	TeacherChannels int64 `json:"teacher_channels"`
	Student         struct {
		Conv1 int64 `json:"conv1"`
		Width int64 `json:"width"`
	} `json:"student"`
	AutoEncoder struct {
		Base int64 `json:"base"`
		Mid  int64 `json:"mid"`
	} `json:"autoencoder"`
	Segmentor struct {
		Reduce    int64   `json:"reduce"`
		Width     int64   `json:"width"`
		Classes   int64   `json:"classes"` // N = pseudo-label classes + background
		Dilations []int64 `json:"dilations"`
	} `json:"segmentor"`
}

// PaperConfig is the official model: WideResNet-50-2 layers 1–3, 512 teacher channels, the
// EfficientAD-M sized student, with classes segmentor classes.
func PaperConfig(classes int64) Config {
	var c Config
	c.ImageSize, c.FeatureSize = 256, 64
	c.Encoder.Stem = 64
	c.Encoder.Blocks = []int64{3, 4, 6}
	c.Encoder.Mid = []int64{128, 256, 512}
	c.Encoder.Out = []int64{256, 512, 1024}
	c.TeacherChannels = 512
	c.Student.Conv1, c.Student.Width = 256, 512
	c.AutoEncoder.Base, c.AutoEncoder.Mid = 32, 64
	c.Segmentor.Reduce, c.Segmentor.Width, c.Segmentor.Classes = 48, 256, classes
	c.Segmentor.Dilations = []int64{6, 12, 18}
	return c
}

// SmallConfig has the paper's structure at a fraction of the widths: the `cpu` preset (model
// headers, `csad train -preset cpu`), for tests and for CPU training where the paper size would
// take hours.
func SmallConfig(classes int64) Config {
	var c Config
	c.ImageSize, c.FeatureSize = 256, 64
	c.Encoder.Stem = 8
	c.Encoder.Blocks = []int64{1, 2, 1}
	c.Encoder.Mid = []int64{4, 8, 16}
	c.Encoder.Out = []int64{16, 32, 64}
	c.TeacherChannels = 16
	c.Student.Conv1, c.Student.Width = 8, 16
	c.AutoEncoder.Base, c.AutoEncoder.Mid = 4, 8
	c.Segmentor.Reduce, c.Segmentor.Width, c.Segmentor.Classes = 4, 8, classes
	c.Segmentor.Dilations = []int64{6, 12, 18}
	return c
}

// WithImageSize returns c for another network input size (a multiple of 32): the LGST maps are
// a quarter of it, the autoencoder's bottleneck kernel a thirty-second.
func (c Config) WithImageSize(size int64) Config {
	c.ImageSize, c.FeatureSize = size, size/4
	return c
}

// ParseConfig reads a Config from JSON and validates it.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("csad: config: %w", err)
	}
	return c, c.Validate()
}

// Limits on a Config, checked before anything is allocated: generous for any real model, small
// enough that a hostile model header cannot make the loader allocate without bound.
const (
	minImageSize = 64
	maxImageSize = 1024
	maxWidth     = 16384 // channels of any layer
	maxBlocks    = 64    // bottlenecks per encoder stage
	maxClasses   = 256   // segmentation classes; the segmentation is stored as uint8
)

// Validate checks the sizes the architecture depends on and that every value is in range.
func (c Config) Validate() error {
	bad := func(f string, a ...any) error { return fmt.Errorf("csad: config: "+f, a...) }
	switch {
	case c.ImageSize < minImageSize || c.ImageSize > maxImageSize || c.ImageSize%32 != 0:
		// Five stride-2 convolutions bring the autoencoder to ImageSize/32, which its last encoder
		// convolution (kernel ImageSize/32) reduces to one code; the segmentor needs ImageSize/16.
		return bad("image_size must be a multiple of 32 in %d..%d (the paper's is 256), got %d", minImageSize, maxImageSize, c.ImageSize)
	case c.FeatureSize != c.ImageSize/4:
		return bad("feature_size must be image_size/4 = %d, got %d", c.ImageSize/4, c.FeatureSize)
	case len(c.Encoder.Blocks) != 3 || len(c.Encoder.Mid) != 3 || len(c.Encoder.Out) != 3:
		return bad("encoder needs 3 stages (blocks, mid, out)")
	case len(c.Segmentor.Dilations) != 3:
		return bad("segmentor needs 3 dilations")
	case c.Segmentor.Classes < 2 || c.Segmentor.Classes > maxClasses:
		return bad("segmentor classes must be in 2..%d, got %d", maxClasses, c.Segmentor.Classes)
	}
	widths := map[string]int64{
		"encoder.stem": c.Encoder.Stem, "teacher_channels": c.TeacherChannels,
		"student.conv1": c.Student.Conv1, "student.width": c.Student.Width,
		"autoencoder.base": c.AutoEncoder.Base, "autoencoder.mid": c.AutoEncoder.Mid,
		"segmentor.reduce": c.Segmentor.Reduce, "segmentor.width": c.Segmentor.Width,
	}
	for i := range 3 {
		widths[fmt.Sprintf("encoder.mid[%d]", i)] = c.Encoder.Mid[i]
		widths[fmt.Sprintf("encoder.out[%d]", i)] = c.Encoder.Out[i]
	}
	for name, v := range widths {
		if v < 1 || v > maxWidth {
			return bad("%s must be in 1..%d, got %d", name, maxWidth, v)
		}
	}
	for i, v := range c.Encoder.Blocks {
		if v < 1 || v > maxBlocks {
			return bad("encoder.blocks[%d] must be in 1..%d, got %d", i, maxBlocks, v)
		}
	}
	for i, d := range c.Segmentor.Dilations {
		// A dilation past the 16×16 feature map only reads padding, and ≤ 0 is no convolution.
		if d < 1 || d > c.ImageSize {
			return bad("segmentor.dilations[%d] must be in 1..%d, got %d", i, c.ImageSize, d)
		}
	}
	return nil
}

// mismatches lists the fields where c and other differ, by JSON name ("segmentor.classes 6 ≠ 5").
func (c Config) mismatches(other Config) []string {
	var flat func(prefix string, v any, out map[string]string)
	flat = func(prefix string, v any, out map[string]string) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				flat(prefix+k+".", e, out)
			}
		default:
			out[strings.TrimSuffix(prefix, ".")] = fmt.Sprint(x)
		}
	}
	toMap := func(c Config) map[string]string {
		var m map[string]any
		// Config marshals and unmarshals without error: it holds only integers.
		json.Unmarshal(c.JSON(), &m)
		out := map[string]string{}
		flat("", m, out)
		return out
	}
	a, b := toMap(c), toMap(other)
	var diffs []string
	for k, v := range a {
		if b[k] != v {
			diffs = append(diffs, fmt.Sprintf("%s %s ≠ %s", k, v, b[k]))
		}
	}
	slices.Sort(diffs)
	return diffs
}

// JSON encodes the config.
func (c Config) JSON() []byte {
	b, _ := json.Marshal(c)
	return b
}
