package torch_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
	"github.com/csad-go/csad/torch/optim"
	"github.com/csad-go/csad/torch/torchtest"
)

// BenchmarkSoak runs 100,000 small ops and 1,000 conv forward/backward/Adam steps, and prints RSS
// after warm-up and at the end. Memory must stay flat (the bar: within 5 %).
//
//	go test -run '^$' -bench Soak -benchtime 1x ./torch/
func BenchmarkSoak(b *testing.B) {
	for range b.N {
		torch.ManualSeed(0)
		net := nn.NewSequential(nn.NewConv2d(3, 16, 3, nn.Conv2dConfig{Padding: 1}), nn.NewBatchNorm2d(16), nn.NewReLU(),
			nn.NewConv2d(16, 3, 3, nn.Conv2dConfig{Padding: 1}))
		var params []*torch.Tensor
		for _, p := range nn.Parameters(net) {
			params = append(params, p.Tensor)
		}
		opt := optim.NewAdam(params, optim.DefaultAdam())
		x0 := torch.Randn(nil, []int64{4, 3, 32, 32}, torch.Float32)

		smallOps := func(n int) {
			s := torch.NewNoGradScope()
			defer func() { s.Close() }() // s is replaced below
			a := torch.Randn(s, []int64{8, 8}, torch.Float32)
			for i := range n {
				a = a.MulScalar(0.999).AddScalar(0.001).Relu()
				if i%1000 == 999 { // keep each scope's tensor count bounded, as a caller would
					a = s.Keep(a)
					s.Close()
					s = torch.NewNoGradScope()
					s.Own(a)
				}
			}
		}
		convSteps := func(n int) {
			for range n {
				torch.Do(torch.GradMode, func(s *torch.Scope) error {
					opt.ZeroGrad()
					x := x0.Share(s)
					loss := net.Forward(x).MSELoss(x)
					loss.Backward()
					return opt.Step()
				})
			}
		}
		smallOps(10_000) // warm-up: allocator pools, op handles, the Go heap
		convSteps(100)
		runtime.GC()
		start := torchtest.RSS()
		smallOps(100_000)
		convSteps(1_000)
		runtime.GC()
		end := torchtest.RSS()
		growth := 100 * float64(end-start) / float64(start)
		b.ReportMetric(float64(start)/(1<<20), "MiB-rss-start")
		b.ReportMetric(float64(end)/(1<<20), "MiB-rss-end")
		b.ReportMetric(growth, "%-rss-growth")
		fmt.Printf("soak: RSS after warm-up %.1f MiB, after 100000 small ops + 1000 conv steps %.1f MiB (%+.2f %%); live: %v\n",
			float64(start)/(1<<20), float64(end)/(1<<20), growth, torch.Live())
		opt.Close()
		nn.Close(net)
		x0.Close()
	}
}
