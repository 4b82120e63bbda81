package csad

import (
	"encoding/json"
	"fmt"
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

// SmallConfig has the paper's structure at a fraction of the widths: for tests and for CPU
// experiments where the paper size would take hours.
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

// ParseConfig reads a Config from JSON and validates it.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("csad: config: %w", err)
	}
	return c, c.Validate()
}

// Validate checks the sizes the architecture depends on.
func (c Config) Validate() error {
	bad := func(f string, a ...any) error { return fmt.Errorf("csad: config: "+f, a...) }
	switch {
	case c.ImageSize != 256:
		// The autoencoder's 8×8 bottleneck kernel and the fixed decoder sizes assume 256.
		return bad("image_size must be 256 (the autoencoder's fixed sizes assume it), got %d", c.ImageSize)
	case c.FeatureSize != 64:
		return bad("feature_size must be 64, got %d", c.FeatureSize)
	case len(c.Encoder.Blocks) != 3 || len(c.Encoder.Mid) != 3 || len(c.Encoder.Out) != 3:
		return bad("encoder needs 3 stages (blocks, mid, out)")
	case len(c.Segmentor.Dilations) != 3:
		return bad("segmentor needs 3 dilations")
	case c.Segmentor.Classes < 2:
		return bad("segmentor needs at least 2 classes, got %d", c.Segmentor.Classes)
	}
	for _, v := range append(append(append([]int64{c.Encoder.Stem, c.TeacherChannels, c.Student.Conv1, c.Student.Width,
		c.AutoEncoder.Base, c.AutoEncoder.Mid, c.Segmentor.Reduce, c.Segmentor.Width}, c.Encoder.Blocks...), c.Encoder.Mid...), c.Encoder.Out...) {
		if v < 1 {
			return bad("every width and block count must be positive")
		}
	}
	return nil
}

// JSON encodes the config.
func (c Config) JSON() []byte {
	b, _ := json.Marshal(c)
	return b
}
