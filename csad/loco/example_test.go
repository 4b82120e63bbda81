package loco_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/csad-go/csad/csad/loco"
	"github.com/csad-go/csad/csad/synth"
)

func ExampleOpen() {
	root, err := os.MkdirTemp("", "loco-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)
	opt := synth.DefaultOptions()
	opt.Width, opt.Height = 64, 64
	opt.Train, opt.Validation, opt.TestGood, opt.TestLogical, opt.TestStructural = 2, 1, 1, 1, 1
	if err := synth.Generate(root, "box", opt); err != nil {
		panic(err)
	}
	ds, err := loco.Open(filepath.Join(root, "box"))
	if err != nil {
		panic(err)
	}
	for _, s := range ds.Test {
		fmt.Println(s.Rel, s.Label)
	}
	g, err := ds.GroundTruth(ds.Test[1])
	if err != nil {
		panic(err)
	}
	fmt.Println(g.Channels[0].Defect.DefectName)
	// Output:
	// test/good/000.png 0
	// test/logical_anomalies/000.png 1
	// test/structural_anomalies/000.png 1
	// missing_fruit
}
