package csad_test

import (
	"context"
	"fmt"
	"runtime/debug"
	"testing"

	"github.com/csad-go/csad/csad"
	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/torchtest"
)

func rssMiB() float64 { return float64(torchtest.RSS()) / (1 << 20) }

// BenchmarkScoreMemory scores 2,000 images one by one with the reduced-width model and prints
// RSS after warm-up and at the end: a long-running scorer must hold flat memory (the bar: within
// 5 %).
//
//	go test -run '^$' -bench ScoreMemory -benchtime 1x ./csad/
func BenchmarkScoreMemory(b *testing.B) {
	m, err := csad.Load(smallModelFile(b), csad.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	imgs := testImages(b, 8)
	ctx := context.Background()
	score := func(n int) {
		for i := range n {
			if _, err := m.Score(ctx, imgs[i%len(imgs)]); err != nil {
				b.Fatal(err)
			}
		}
	}
	for range b.N {
		score(200) // warm-up: allocator caches, Go heap
		live := torch.Live()
		debug.FreeOSMemory()
		start := rssMiB()
		for k := range 4 {
			score(500)
			debug.FreeOSMemory()
			fmt.Printf("score memory: after %4d images RSS %.1f MiB, %v\n", 500*(k+1), rssMiB(), torch.Live())
		}
		end := rssMiB()
		growth := 100 * (end - start) / start
		b.ReportMetric(start, "MiB-rss-start")
		b.ReportMetric(end, "MiB-rss-end")
		b.ReportMetric(growth, "%-rss-growth")
		fmt.Printf("score memory: RSS after warm-up %.1f MiB, after 2000 images %.1f MiB (%+.2f %%)\n", start, end, growth)
		if growth > 5 {
			b.Errorf("RSS grew %.2f %% over 2,000 images; the bar is 5 %%", growth)
		}
		if now := torch.Live(); now.Tensors != live.Tensors {
			b.Errorf("live tensors %d after scoring, %d before: every call must free what it made", now.Tensors, live.Tensors)
		}
	}
}
