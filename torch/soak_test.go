package torch_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/csad-go/csad/torch"
	"github.com/csad-go/csad/torch/nn"
	"github.com/csad-go/csad/torch/optim"
	"github.com/csad-go/csad/torch/torchtest"
)

// soakMaxGrowth is the bound the soak holds memory to: RSS after the run may exceed RSS after
// warm-up by at most this fraction.
const soakMaxGrowth = 0.05

// BenchmarkSoak runs 100,000 small ops in one long-lived scope and 1,000 conv
// forward/backward/Adam steps, and fails unless memory stays flat: RSS within 5 % of its value
// after warm-up, the scope holding only its one open tensor, and the live native tensors back at
// their baseline with none left to the garbage collector. Every operation's error is checked.
//
//	go test -run '^$' -bench Soak -benchtime 1x ./torch/
func BenchmarkSoak(b *testing.B) {
	for range b.N {
		base := torch.Live()
		require.NoError(b, torch.ManualSeed(0))
		net := nn.NewSequential(nn.NewConv2d(3, 16, 3, nn.Conv2dConfig{Padding: 1}), nn.NewBatchNorm2d(16), nn.NewReLU(),
			nn.NewConv2d(16, 3, 3, nn.Conv2dConfig{Padding: 1}))
		require.NoError(b, nn.Err(net))
		var params []*torch.Tensor
		for _, p := range nn.Parameters(net) {
			params = append(params, p.Tensor)
		}
		opt := optim.NewAdam(params, optim.DefaultAdam())
		x0 := torch.Randn(nil, []int64{4, 3, 32, 32}, torch.Float32)
		require.NoError(b, x0.Err())

		// One scope for all small ops, as a long-running caller keeps one: each value is closed
		// once the next exists, and the scope must forget it.
		ops := torch.NewNoGradScope()
		a := torch.Randn(ops, []int64{8, 8}, torch.Float32)
		require.NoError(b, a.Err())
		smallOps := func(n int) error {
			for i := range n {
				m := a.MulScalar(0.999)
				p := m.AddScalar(0.001)
				next := p.Relu()
				if err := next.Err(); err != nil {
					return fmt.Errorf("small op %d: %w", i, err)
				}
				for _, t := range []*torch.Tensor{m, p, a} {
					if err := t.Close(); err != nil {
						return err
					}
				}
				a = next
			}
			if n := ops.Len(); n != 1 {
				return fmt.Errorf("the small-op scope holds %d tensors, want 1", n)
			}
			return nil
		}
		convSteps := func(n int) error {
			for i := range n {
				err := torch.Do(torch.GradMode, func(s *torch.Scope) error {
					if err := opt.ZeroGrad(); err != nil {
						return err
					}
					x := x0.Share(s)
					loss := net.Forward(x).MSELoss(x)
					if err := loss.Backward(); err != nil {
						return err
					}
					return opt.Step()
				})
				if err != nil {
					return fmt.Errorf("conv step %d: %w", i, err)
				}
			}
			return nil
		}
		// Warm-up: allocator pools, op handles, Adam's moments, the Go heap.
		require.NoError(b, smallOps(10_000))
		require.NoError(b, convSteps(100))
		runtime.GC()
		start, err := torchtest.ReadRSS()
		require.NoError(b, err)
		require.NoError(b, smallOps(100_000))
		require.NoError(b, convSteps(1_000))
		runtime.GC()
		end, err := torchtest.ReadRSS()
		require.NoError(b, err)
		growth := float64(end-start) / float64(start)
		b.ReportMetric(float64(start)/(1<<20), "MiB-rss-start")
		b.ReportMetric(float64(end)/(1<<20), "MiB-rss-end")
		b.ReportMetric(100*growth, "%-rss-growth")
		fmt.Printf("soak: RSS after warm-up %.1f MiB, after 100000 small ops + 1000 conv steps %.1f MiB (%+.2f %%); live: %v\n",
			float64(start)/(1<<20), float64(end)/(1<<20), 100*growth, torch.Live())

		require.NoError(b, ops.Close())
		require.NoError(b, opt.Close())
		require.NoError(b, nn.Close(net))
		require.NoError(b, x0.Close())
		require.LessOrEqual(b, growth, soakMaxGrowth, "RSS grew by more than %.0f %% after warm-up", 100*soakMaxGrowth)
		live := torch.Live()
		require.Equal(b, base.Tensors, live.Tensors, "live native tensors after the soak, want the baseline")
		require.Equal(b, base.Scopes, live.Scopes, "open scopes after the soak")
		require.Equal(b, base.Collected, live.Collected, "tensors left to the garbage collector during the soak")
	}
}
