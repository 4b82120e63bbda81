package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/csad-go/csad/csad"
)

// TestBenchSmall runs 'csad bench' on the small golden model, once per mode at batch 1, with
// the PyTorch comparison: Go's FLOPs must equal the forward-hook count of csad_ref in PyTorch,
// and the exact mode's scores PyTorch's. It needs /usr/bin/python3 with torch ('make setup')
// and fails without it.
func TestBenchSmall(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "small.csad")
	if out, stderr, code := runMain(t, "import", "-in", filepath.Join("..", "..", "testdata", "golden", "model_small.pth"), "-out", model); code != 0 {
		t.Fatalf("import: code %d, stdout %q, stderr %q", code, out, stderr)
	}
	out, stderr, code := runMain(t, "bench", "-model", model, "-batch", "1", "-threads", "1", "-warmup", "0", "-iters", "2", "-json")
	if code != 0 {
		t.Fatalf("bench: code %d, stderr %q", code, stderr)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bench -json: %v\n%s", err, out)
	}
	want := csad.FLOPs(csad.SmallConfig(5))
	if rep.FLOPs != want || rep.PythonFLOPs != want {
		t.Errorf("FLOPs: Go %d, PyTorch hooks %d, want both %d", rep.FLOPs, rep.PythonFLOPs, want)
	}
	if len(rep.Go) != 2 || rep.Go[0].Mode != "exact" || rep.Go[1].Mode != "fast" || len(rep.Python) != 1 {
		t.Fatalf("rows: go %+v, python %+v", rep.Go, rep.Python)
	}
	for _, r := range append(rep.Go, rep.Python...) {
		if r.Batch != 1 || r.Iters != 2 || r.ImagesPerS <= 0 || r.P50Ms <= 0 || r.P99Ms < r.P50Ms || r.PeakRSS <= 0 {
			t.Errorf("%s row: %+v", r.Mode, r)
		}
	}
	for _, r := range rep.Go {
		if r.RatioVsPython <= 0 || r.MaxAbsDiffScore == nil {
			t.Errorf("%s row lacks the Python comparison: %+v", r.Mode, r)
			continue
		}
		// Exact mode is PyTorch's arithmetic; fast mode's maps are within float32 rounding.
		if lim := map[string]float64{"exact": 1e-5, "fast": 1e-3}[r.Mode]; *r.MaxAbsDiffScore > lim {
			t.Errorf("%s: scores differ from PyTorch's by %g", r.Mode, *r.MaxAbsDiffScore)
		}
	}
	if rep.ConvPeak.ChannelsLast <= 0 || rep.ConvPeak.NCHW <= 0 {
		t.Errorf("conv peak %+v", rep.ConvPeak)
	}

	// The table names every column and both FLOP counts agree.
	out, stderr, code = runMain(t, "bench", "-model", model, "-batch", "1", "-threads", "1", "-warmup", "0", "-iters", "1", "-fast", "-python=false")
	if code != 0 || !strings.Contains(out, "% conv peak") || !strings.Contains(out, "fast") || strings.Contains(out, "exact") {
		t.Errorf("table: code %d, stdout %q, stderr %q", code, out, stderr)
	}
}
