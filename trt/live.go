package trt

import (
	"fmt"
	"sync/atomic"
)

var (
	liveBuilders atomic.Int64
	liveEngines  atomic.Int64
	liveContexts atomic.Int64
)

// LiveObjects counts the native TensorRT objects currently held. Long-running programs can
// export them to watch for leaks; tests check that they return to zero.
type LiveObjects struct {
	Builders, Engines, Contexts int64
}

// Live returns the current counts.
func Live() LiveObjects {
	return LiveObjects{Builders: liveBuilders.Load(), Engines: liveEngines.Load(), Contexts: liveContexts.Load()}
}

func (l LiveObjects) String() string {
	return fmt.Sprintf("%d TensorRT builders, %d engines, %d execution contexts live", l.Builders, l.Engines, l.Contexts)
}

// Leaked reports whether anything is still alive.
func (l LiveObjects) Leaked() bool { return l.Builders != 0 || l.Engines != 0 || l.Contexts != 0 }
