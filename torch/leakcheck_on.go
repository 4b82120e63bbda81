//go:build leakcheck

package torch

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
)

var (
	allocMu     sync.Mutex
	allocStacks = map[*Tensor]string{}
)

func trackAlloc(t *Tensor) {
	var pcs [16]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	var b strings.Builder
	for {
		f, more := frames.Next()
		fmt.Fprintf(&b, "    %s\n        %s:%d\n", f.Function, f.File, f.Line)
		if !more {
			break
		}
	}
	allocMu.Lock()
	allocStacks[t] = b.String()
	allocMu.Unlock()
}

func untrackAlloc(t *Tensor) {
	allocMu.Lock()
	delete(allocStacks, t)
	allocMu.Unlock()
}

// LeakChecking reports whether the leakcheck build tag is on.
const LeakChecking = true

// LeakReport describes native objects still alive, with the stack that created each live tensor
// (at most 20, most common first).
func LeakReport() string {
	allocMu.Lock()
	count := map[string]int{}
	for _, s := range allocStacks {
		count[s]++
	}
	allocMu.Unlock()
	stacks := make([]string, 0, len(count))
	for s := range count {
		stacks = append(stacks, s)
	}
	sort.Slice(stacks, func(i, j int) bool { return count[stacks[i]] > count[stacks[j]] })
	var b strings.Builder
	b.WriteString(Live().String())
	for i, s := range stacks {
		if i == 20 {
			break
		}
		fmt.Fprintf(&b, "\n%d live tensor(s) created at:\n%s", count[s], s)
	}
	return b.String()
}
