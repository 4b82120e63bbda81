package report_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/csad-go/csad/csad/report"
	"github.com/csad-go/csad/csad/synth"
)

func ExampleRun() {
	root, err := os.MkdirTemp("", "report-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)
	opt := synth.DefaultOptions()
	opt.Width, opt.Height = 64, 64
	opt.Train, opt.Validation, opt.TestGood, opt.TestLogical, opt.TestStructural = 1, 1, 2, 2, 2
	if err := synth.Generate(root, "tray", opt); err != nil {
		panic(err)
	}
	// One score per test image; a logical anomaly scored like a good image.
	scores := `{"path":"test/good/000.png","score":0.1}
{"path":"test/good/001.png","score":0.4}
{"path":"test/logical_anomalies/000.png","score":0.4}
{"path":"test/logical_anomalies/001.png","score":0.9}
{"path":"test/structural_anomalies/000.png","score":0.8}
{"path":"test/structural_anomalies/001.png","score":0.7}
`
	sp := filepath.Join(root, "scores.jsonl")
	if err := os.WriteFile(sp, []byte(scores), 0o644); err != nil {
		panic(err)
	}
	sum, err := report.Run(report.Options{Dataset: filepath.Join(root, "tray"), Scores: sp, Out: filepath.Join(root, "out")})
	if err != nil {
		panic(err)
	}
	a := sum.Results.Classification.AUCROC
	fmt.Printf("logical %.3f structural %.3f mean %.4f\n", *a["logical_anomalies"], *a["structural_anomalies"], *a["mean"])
	fmt.Println(sum.Files)
	// Output:
	// logical 0.875 structural 1.000 mean 0.9375
	// [metrics.json roc.png hist.png report.md]
}
