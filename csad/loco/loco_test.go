package loco_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/csad-go/csad/csad/loco"
	"github.com/csad-go/csad/csad/synth"
)

func makeSet(t *testing.T) (string, synth.Options) {
	t.Helper()
	o := synth.DefaultOptions()
	o.Width, o.Height = 128, 96
	o.Train, o.Validation, o.TestGood, o.TestLogical, o.TestStructural = 3, 2, 2, 3, 4
	root := t.TempDir()
	if err := synth.Generate(root, "connectors", o); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "connectors"), o
}

func TestRoundTrip(t *testing.T) {
	dir, o := makeSet(t)
	ds, err := loco.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Category != "connectors" || len(ds.Train) != 3 || len(ds.Validation) != 2 || len(ds.Test) != 9 {
		t.Fatalf("category %q, %d/%d/%d images", ds.Category, len(ds.Train), len(ds.Validation), len(ds.Test))
	}
	var rels []string
	for _, s := range ds.Test {
		rels = append(rels, s.Rel)
		wantLabel := 1
		if s.DefectType == loco.Good {
			wantLabel = 0
		}
		if s.Label != wantLabel || s.Split != loco.Test || !strings.HasPrefix(s.Rel, "test/"+s.DefectType+"/") {
			t.Errorf("bad sample %+v", s)
		}
		if (s.GroundTruthDir != "") != (s.Label == 1) {
			t.Errorf("%s: ground-truth dir %q", s.Rel, s.GroundTruthDir)
		}
	}
	if !slices.IsSorted(rels) {
		t.Errorf("test listing not sorted: %v", rels)
	}
	if got := ds.TestOf(loco.LogicalAnomalies); len(got) != 3 || got[0].Rel != "test/logical_anomalies/000.png" {
		t.Errorf("TestOf: %v", got)
	}
	if err := ds.Verify(); err != nil {
		t.Fatal(err)
	}
	// The masks read back are the generator's, with its defect configs.
	cfg, err := synth.DefectsConfig("connectors", o.Width, o.Height)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.Defects, cfg) {
		t.Errorf("defects_config round trip: %v vs %v", ds.Defects, cfg)
	}
	for _, s := range ds.Test {
		if s.Label == 0 {
			continue
		}
		g, err := ds.GroundTruth(s)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(s.Path), ".png"))
		if err != nil {
			t.Fatal(err)
		}
		kind := synth.Logical
		if s.DefectType == loco.StructuralAnomalies {
			kind = synth.Structural
		}
		im, err := synth.Render("connectors", o, loco.Test, kind, idx)
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Channels) != len(im.Channels) {
			t.Fatalf("%s: %d channels, generator drew %d", s.Rel, len(g.Channels), len(im.Channels))
		}
		for k, ch := range g.Channels {
			if ch.Defect.DefectName != im.Channels[k].Defect || !slices.Equal(ch.Mask, im.Channels[k].Mask) {
				t.Errorf("%s channel %d differs from the generator's", s.Rel, k)
			}
		}
		if mc := g.MetricsChannels(); len(mc) != len(g.Channels) || mc[0].Name != g.Channels[0].Defect.DefectName {
			t.Errorf("MetricsChannels: %v", mc)
		}
	}
	if _, err := ds.GroundTruth(ds.Test[0]); err == nil {
		t.Error("ground truth of a good image")
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(dir string) error
		verify bool
		want   []string
	}{
		{"missing split", func(d string) error { return os.RemoveAll(filepath.Join(d, "validation")) }, false,
			[]string{`missing split "validation/good"`, filepath.Join("validation", "good"), "csad synth"}},
		{"missing test type", func(d string) error { return os.RemoveAll(filepath.Join(d, "test", "structural_anomalies")) }, false,
			[]string{`missing split "test/structural_anomalies"`}},
		{"missing ground truth", func(d string) error {
			return os.RemoveAll(filepath.Join(d, "ground_truth", "logical_anomalies", "001"))
		}, false, []string{"test/logical_anomalies/001.png", "no ground-truth folder", filepath.Join("ground_truth", "logical_anomalies", "001")}},
		{"empty ground truth", func(d string) error {
			p := filepath.Join(d, "ground_truth", "structural_anomalies", "002")
			os.RemoveAll(p)
			return os.Mkdir(p, 0o755)
		}, false, []string{"holds no PNG", "002"}},
		{"truncated png", func(d string) error {
			p := filepath.Join(d, "train", "good", "001.png")
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(p, b[:len(b)/2], 0o644)
		}, true, []string{filepath.Join("train", "good", "001.png"), "cannot decode", "replace it"}},
		{"unknown pixel value", func(d string) error {
			var c loco.DefectsConfig
			c = append(c, loco.DefectConfig{DefectName: "x", PixelValue: 7, SaturationThreshold: 1, RelativeSaturation: true})
			return loco.WriteDefectsConfig(filepath.Join(d, loco.ConfigFile), c)
		}, true, []string{"pixel value", "does not list", "defects_config.json"}},
		{"bad config", func(d string) error {
			return os.WriteFile(filepath.Join(d, loco.ConfigFile), []byte(`{"not": "a list"}`), 0o644)
		}, false, []string{"defects_config.json", "MVTec LOCO AD format"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, _ := makeSet(t)
			if err := c.break_(dir); err != nil {
				t.Fatal(err)
			}
			ds, err := loco.Open(dir)
			if c.verify {
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				err = ds.Verify()
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if _, err := loco.Open(filepath.Join(t.TempDir(), "nope")); err == nil || !strings.Contains(err.Error(), "category folder") {
		t.Errorf("missing folder: %v", err)
	}
}

func TestDefectConfigJSON(t *testing.T) {
	in := `[{"defect_name": "missing_almonds", "pixel_value": 255, "saturation_threshold": 29000, "relative_saturation": false},
	        {"defect_name": "scratch", "pixel_value": 254, "saturation_threshold": 1.0, "relative_saturation": true}]`
	var c loco.DefectsConfig
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if c[0].SaturationThreshold != 29000 || c[0].RelativeSaturation || c[1].SaturationThreshold != 1 || !c[1].RelativeSaturation {
		t.Fatalf("parsed %+v", c)
	}
	b, _ := json.Marshal(c)
	// The official reader asserts a float for relative thresholds, an int
	// for absolute ones.
	if !strings.Contains(string(b), `"saturation_threshold":1.0,`) || !strings.Contains(string(b), `"saturation_threshold":29000,`) {
		t.Errorf("marshalled %s", b)
	}
	for _, bad := range []string{
		`[{"defect_name": "a", "pixel_value": 0, "saturation_threshold": 1, "relative_saturation": false}]`,
		`[{"defect_name": "a", "pixel_value": 3, "saturation_threshold": 1.5, "relative_saturation": true}]`,
		`[{"defect_name": "a", "pixel_value": 3, "saturation_threshold": 10.5, "relative_saturation": false}]`,
	} {
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func FuzzDefectsConfig(f *testing.F) {
	f.Add([]byte(`[{"defect_name": "a", "pixel_value": 255, "saturation_threshold": 0.5, "relative_saturation": true}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c loco.DefectsConfig
		if json.Unmarshal(b, &c) != nil {
			return
		}
		// Whatever parses must write back and parse to the same thing.
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("parsed %v but cannot write it: %v", c, err)
		}
		var d loco.DefectsConfig
		if err := json.Unmarshal(out, &d); err != nil || !slices.Equal(c, d) {
			t.Fatalf("round trip %v -> %s -> %v (%v)", c, out, d, err)
		}
	})
}
