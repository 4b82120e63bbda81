package ortscore_test

import (
	"context"
	"fmt"
	"image"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/ortscore"
	"github.com/csad-go/csad/torch/torchtest"
)

const (
	callersModelEnv = "ORTSCORE_CALLERS_MODEL"
	callersCaseEnv  = "ORTSCORE_CALLERS_CASE" // callers,gather,calls
	benchModelEnv   = "ORTSCORE_BENCH_MODEL"  // another model to measure ('csad export -maps')
	benchImagesEnv  = "ORTSCORE_BENCH_IMAGES" // images a case, a multiple of 64
)

// BenchmarkConcurrentCallers scores 256 images of the reduced golden model's export with 1, 8
// and 64 goroutines sharing one Scorer (ONNX Runtime's default threads, the default
// MaxInFlight: one pass at a time on this machine), without and with Options.GatherBatch = 8,
// and prints images/s and the peak RSS. Each case runs in a fresh process, so that its VmHWM
// is its own; the test binary links LibTorch for the tests that compare with package csad,
// which adds the same to every case. ORTSCORE_BENCH_MODEL measures another exported model,
// ORTSCORE_BENCH_IMAGES sets the images a case (a multiple of 64).
//
//	go test -run '^$' -bench ConcurrentCallers -benchtime 1x ./ortscore/
func BenchmarkConcurrentCallers(b *testing.B) {
	model := os.Getenv(benchModelEnv)
	if model == "" {
		model, _ = smallModel(b)
	}
	images := 256
	if v := os.Getenv(benchImagesEnv); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err, "%s=%q", benchImagesEnv, v)
		require.True(b, n >= 64 && n%64 == 0, "%s=%d: want a multiple of 64", benchImagesEnv, n)
		images = n
	}
	for _, callers := range []int{1, 8, 64} {
		for _, gather := range []int{0, 8} {
			b.Run(fmt.Sprintf("callers=%d/gather=%d", callers, gather), func(b *testing.B) {
				var perS float64
				var hwm int64
				for range b.N {
					cmd := exec.Command(os.Args[0], "-test.run=^TestConcurrentCallersChild$", "-test.count=1", "-test.v")
					cmd.Env = append(os.Environ(), callersModelEnv+"="+model,
						fmt.Sprintf("%s=%d,%d,%d", callersCaseEnv, callers, gather, images/callers))
					out, err := cmd.CombinedOutput()
					require.NoError(b, err, "%s", out)
					found := false
					for line := range strings.Lines(string(out)) {
						if _, err := fmt.Sscanf(strings.TrimSpace(line), "callers-result %g %d", &perS, &hwm); err == nil {
							found = true
						}
					}
					require.True(b, found, "no result line in\n%s", out)
				}
				b.ReportMetric(perS, "images/s")
				b.ReportMetric(float64(hwm)/(1<<20), "MiB-peak-rss")
				fmt.Printf("ortscore, %2d callers, GatherBatch %d: %6.1f images/s, peak RSS %4.0f MiB\n", callers, gather, perS, float64(hwm)/(1<<20))
			})
		}
	}
}

// TestConcurrentCallersChild is one case of BenchmarkConcurrentCallers; it runs only in the
// child process the benchmark starts.
func TestConcurrentCallersChild(t *testing.T) {
	spec := os.Getenv(callersCaseEnv)
	if spec == "" {
		t.Skip("runs as a child of BenchmarkConcurrentCallers")
	}
	v, err := torchtest.CaseInts(spec, 3)
	require.NoError(t, err, "%s", callersCaseEnv)
	callers, gather, calls := v[0], v[1], v[2]
	s, err := ortscore.Load(os.Getenv(callersModelEnv), ortscore.Options{GatherBatch: gather})
	require.NoError(t, err)
	defer func() { assert.NoError(t, s.Close()) }()
	imgs := make([]image.Image, callers)
	for i := range imgs {
		imgs[i] = testImage(160, 120, uint64(i))
	}
	// One untimed call, as a server's first request would be.
	_, err = s.Score(context.Background(), imgs[0])
	require.NoError(t, err)

	perS, err := torchtest.RunCallers(callers, calls, func(c int) error {
		_, err := s.Score(context.Background(), imgs[c])
		return err
	})
	require.NoError(t, err)
	hwm, err := torchtest.ProcStatusBytes("VmHWM")
	require.NoError(t, err)
	fmt.Printf("callers-result %g %d\n", perS, hwm)
}
