package torch

import (
	"fmt"
	"sync/atomic"
)

var (
	liveTensors      atomic.Int64
	collectedTensors atomic.Int64
	liveScopes       atomic.Int64
	liveModules      atomic.Int64
)

// LiveObjects reports how many native objects are currently held: tensors, open scopes and
// TorchScript modules. Long-running programs can export these to watch for leaks.
type LiveObjects struct {
	Tensors, Scopes, Modules int64
	// Collected counts tensors freed by the garbage collector instead of Close or a scope: each
	// one is a leak that the safety net caught.
	Collected int64
}

// Live returns the current counts.
func Live() LiveObjects {
	return LiveObjects{
		Tensors:   liveTensors.Load(),
		Scopes:    liveScopes.Load(),
		Modules:   liveModules.Load(),
		Collected: collectedTensors.Load(),
	}
}

func (l LiveObjects) String() string {
	return fmt.Sprintf("%d tensors, %d scopes, %d modules live; %d tensors freed by the garbage collector",
		l.Tensors, l.Scopes, l.Modules, l.Collected)
}

// Leaked reports whether anything is still alive or was left to the garbage collector.
func (l LiveObjects) Leaked() bool {
	return l.Tensors != 0 || l.Scopes != 0 || l.Modules != 0 || l.Collected != 0
}

var (
	opCalls     atomic.Int64
	tensorsMade atomic.Int64
)

// CallCounts are cumulative counts since the process started: the operator calls made through
// the dispatcher and the tensor handles created. Differences between two readings tell what a
// piece of code costs in native calls, which benchmarks and profiles report.
type CallCounts struct {
	OpCalls, Tensors int64
}

// Counts returns the current cumulative counts.
func Counts() CallCounts { return CallCounts{OpCalls: opCalls.Load(), Tensors: tensorsMade.Load()} }
