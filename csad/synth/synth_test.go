package synth_test

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/csad-go/csad/csad/synth"
)

func small() synth.Options {
	o := synth.DefaultOptions()
	o.Width, o.Height = 160, 128
	o.Train, o.Validation, o.TestGood, o.TestLogical, o.TestStructural = 2, 1, 1, 3, 4
	return o
}

func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDeterminism(t *testing.T) {
	o := small()
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	o.Workers = 1
	if err := synth.Generate(a, "tray", o); err != nil {
		t.Fatal(err)
	}
	o.Workers = 3 // the parallelism must not change the bytes
	if err := synth.Generate(b, "tray", o); err != nil {
		t.Fatal(err)
	}
	o.Seed++
	if err := synth.Generate(c, "tray", o); err != nil {
		t.Fatal(err)
	}
	ta, tb, tc := readTree(t, a), readTree(t, b), readTree(t, c)
	// 11 images, 7 ground-truth folders with ≥ 1 mask, defects_config.json.
	if len(ta) < 11+7+1 {
		t.Fatalf("only %d files written", len(ta))
	}
	for name, x := range ta {
		if !bytes.Equal(x, tb[name]) {
			t.Errorf("same seed, different bytes: %s", name)
		}
	}
	if len(ta) != len(tb) {
		t.Errorf("same seed: %d vs %d files", len(ta), len(tb))
	}
	same := 0
	for _, name := range []string{"tray/train/good/000.png", "tray/test/good/000.png", "tray/test/structural_anomalies/001.png"} {
		if bytes.Equal(ta[name], tc[name]) {
			same++
			t.Errorf("different seeds gave identical %s", name)
		}
	}
}

// TestRules checks, through each generator's own scene description, that
// normal and structural scenes obey the category rule and logical scenes
// violate it, and that every anomaly has non-empty ground truth of its own
// defect type.
func TestRules(t *testing.T) {
	o := small()
	for _, cat := range synth.Categories() {
		specs, err := synth.Defects(cat)
		if err != nil {
			t.Fatal(err)
		}
		var logical, structural []string
		for _, s := range specs {
			if s.Logical {
				logical = append(logical, s.Name)
			} else {
				structural = append(structural, s.Name)
			}
		}
		if len(logical) < 3 || len(structural) != 4 {
			t.Errorf("%s: %d logical and %d structural defect types", cat, len(logical), len(structural))
		}
		for _, kind := range []synth.Kind{synth.Normal, synth.Logical, synth.Structural} {
			n := 12 // every defect type at least three times
			seen := map[string]bool{}
			for i := 0; i < n; i++ {
				im, err := synth.Render(cat, o, "test", kind, i)
				if err != nil {
					t.Fatalf("%s %v %d: %v", cat, kind, i, err)
				}
				v := im.Scene.Violations()
				switch kind {
				case synth.Logical:
					if len(v) == 0 {
						t.Errorf("%s logical %d (%s) obeys the rule", cat, i, im.Defect)
					}
				default:
					if len(v) != 0 {
						t.Errorf("%s %v %d violates the rule: %v", cat, kind, i, v)
					}
				}
				if kind == synth.Normal {
					if len(im.Channels) != 0 {
						t.Errorf("%s normal %d has ground truth", cat, i)
					}
					continue
				}
				seen[im.Defect] = true
				if len(im.Channels) == 0 {
					t.Errorf("%s %v %d (%s): no ground truth", cat, kind, i, im.Defect)
				}
				for _, ch := range im.Channels {
					if ch.Defect != im.Defect {
						t.Errorf("%s %d: channel of %q in a %q image", cat, i, ch.Defect, im.Defect)
					}
					area := 0
					for _, b := range ch.Mask {
						if b {
							area++
						}
					}
					if area < 10 || area > 3*len(ch.Mask)/4 {
						t.Errorf("%s %v %d (%s): ground-truth area %d of %d", cat, kind, i, im.Defect, area, len(ch.Mask))
					}
				}
			}
			if kind == synth.Logical {
				for _, d := range logical {
					if !seen[d] {
						t.Errorf("%s: logical defect %s never drawn", cat, d)
					}
				}
			}
			if kind == synth.Structural {
				for _, d := range structural {
					if !seen[d] {
						t.Errorf("%s: structural defect %s never drawn", cat, d)
					}
				}
			}
		}
	}
}

func TestSceneDetails(t *testing.T) {
	o := small()
	// The connector rule ties the cable colour to the pin count.
	for i := 0; i < 12; i++ {
		im, err := synth.Render("connectors", o, "train", synth.Normal, i)
		if err != nil {
			t.Fatal(err)
		}
		s := im.Scene.(*synth.ConnectorScene)
		if s.Colour != synth.CableColours[s.LeftPins] || s.LeftPins != s.RightPins || s.LeftPin != s.RightPin {
			t.Errorf("normal connector scene %d: %+v", i, s)
		}
	}
	// Normal boxes keep the almond share inside the rule's band.
	for i := 0; i < 12; i++ {
		im, err := synth.Render("box", o, "train", synth.Normal, i)
		if err != nil {
			t.Fatal(err)
		}
		if a := im.Scene.(*synth.BoxScene).AlmondShare(); a < 0.2 || a > 0.4 {
			t.Errorf("normal box %d: almond share %.2f", i, a)
		}
	}
	if _, err := synth.Render("nope", o, "train", synth.Normal, 0); err == nil {
		t.Error("unknown category accepted")
	}
	o.Width = 8
	if err := synth.Generate(t.TempDir(), "tray", o); err == nil {
		t.Error("8-pixel-wide images accepted")
	}
}

func TestDefectsConfigScaling(t *testing.T) {
	a, err := synth.DefectsConfig("tray", 320, 256)
	if err != nil {
		t.Fatal(err)
	}
	b, err := synth.DefectsConfig("tray", 640, 512)
	if err != nil {
		t.Fatal(err)
	}
	if a[0].RelativeSaturation || b[0].SaturationThreshold < 3.9*a[0].SaturationThreshold {
		t.Errorf("absolute thresholds do not scale with the area: %v vs %v", a[0], b[0])
	}
	var vals []int
	for _, d := range a {
		vals = append(vals, d.PixelValue)
	}
	slices.Sort(vals)
	if len(slices.Compact(vals)) != len(a) {
		t.Errorf("pixel values not distinct: %v", vals)
	}
}
