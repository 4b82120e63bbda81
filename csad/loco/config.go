package loco

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"

	"github.com/csad-go/csad/internal/atomicfile"
)

// DefectConfig is one entry of defects_config.json.
type DefectConfig struct {
	DefectName string
	// PixelValue marks the defect in ground-truth PNGs, 1..255.
	PixelValue int
	// SaturationThreshold is a pixel count (an integer) when
	// RelativeSaturation is false, else a fraction of the defect area in
	// (0,1].
	SaturationThreshold float64
	RelativeSaturation  bool
}

type defectJSON struct {
	DefectName          string          `json:"defect_name"`
	PixelValue          int             `json:"pixel_value"`
	SaturationThreshold json.RawMessage `json:"saturation_threshold"`
	RelativeSaturation  bool            `json:"relative_saturation"`
}

// MarshalJSON writes the official format. A relative threshold is always
// written with a decimal point (1.0, not 1) because the official evaluation
// asserts it is a Python float; an absolute one as an integer.
func (d DefectConfig) MarshalJSON() ([]byte, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	var t string
	if d.RelativeSaturation {
		t = strconv.FormatFloat(d.SaturationThreshold, 'f', -1, 64)
		if !bytes.ContainsAny([]byte(t), ".e") {
			t += ".0"
		}
	} else {
		t = strconv.FormatInt(int64(d.SaturationThreshold), 10)
	}
	return json.Marshal(defectJSON{d.DefectName, d.PixelValue, json.RawMessage(t), d.RelativeSaturation})
}

// UnmarshalJSON reads one entry of the official format and checks it as the
// official DefectConfig does.
func (d *DefectConfig) UnmarshalJSON(b []byte) error {
	var j defectJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var t float64
	if err := json.Unmarshal(j.SaturationThreshold, &t); err != nil {
		return fmt.Errorf("defect %q: saturation_threshold: %w", j.DefectName, err)
	}
	*d = DefectConfig{j.DefectName, j.PixelValue, t, j.RelativeSaturation}
	return d.validate()
}

func (d DefectConfig) validate() error {
	if d.PixelValue < 1 || d.PixelValue > 255 {
		return fmt.Errorf("defect %q: pixel_value %d outside 1..255", d.DefectName, d.PixelValue)
	}
	if d.RelativeSaturation {
		if !(d.SaturationThreshold > 0 && d.SaturationThreshold <= 1) {
			return fmt.Errorf("defect %q: relative saturation_threshold %v outside (0,1]", d.DefectName, d.SaturationThreshold)
		}
	} else if d.SaturationThreshold != math.Trunc(d.SaturationThreshold) || d.SaturationThreshold < 0 {
		return fmt.Errorf("defect %q: absolute saturation_threshold %v is not a pixel count", d.DefectName, d.SaturationThreshold)
	}
	return nil
}

// DefectsConfig is the content of defects_config.json, in file order.
type DefectsConfig []DefectConfig

// ByPixelValue returns the entry whose pixel_value is v.
func (c DefectsConfig) ByPixelValue(v int) (DefectConfig, bool) {
	for _, d := range c {
		if d.PixelValue == v {
			return d, true
		}
	}
	return DefectConfig{}, false
}

// ReadDefectsConfig parses a defects_config.json file.
func ReadDefectsConfig(path string) (DefectsConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c DefectsConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("loco: %s: %w (expected the MVTec LOCO AD format: a list of {defect_name, pixel_value, saturation_threshold, relative_saturation})", path, err)
	}
	seen := map[int]string{}
	for _, d := range c {
		if prev, dup := seen[d.PixelValue]; dup {
			return nil, fmt.Errorf("loco: %s: pixel_value %d used by both %q and %q", path, d.PixelValue, prev, d.DefectName)
		}
		seen[d.PixelValue] = d.DefectName
	}
	return c, nil
}

// WriteDefectsConfig writes c in the official format (a JSON list, indented), atomically.
func WriteDefectsConfig(path string, c DefectsConfig) error {
	b, err := json.MarshalIndent(c, "", "    ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, append(b, '\n')); err != nil {
		return fmt.Errorf("loco: %w", err)
	}
	return nil
}
