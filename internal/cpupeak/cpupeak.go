// Package cpupeak measures the floating-point ceiling of this CPU: how many float32
// multiply-adds a second its cores complete when nothing but multiply-adds runs, every operand
// in a register. No convolution, matrix product or network can go faster on the same cores and
// threads, so the figure bounds what any engine could reach on a model (csad bench prints it
// beside each engine's throughput).
//
// The kernel is the widest one the CPU has (AVX-512F, else AVX2 with FMA); on other CPUs
// (not x86, or x86 without FMA) Measure reports ErrNoKernel.
package cpupeak

/*
#cgo CFLAGS: -O2
#include "fma.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// Chains is the number of independent vectors each kernel updates per iteration.
const Chains = C.CPUPEAK_CHAINS

// ErrNoKernel means this CPU has no FMA kernel here (not x86, or x86 without FMA).
var ErrNoKernel = errors.New("cpupeak: no float32 FMA kernel for this CPU (AVX2 with FMA or AVX-512F needed)")

// Peak is one measurement.
type Peak struct {
	Kernel  string  `json:"kernel"`  // "avx2 fma" or "avx512f"
	Lanes   int     `json:"lanes"`   // float32 lanes per vector
	Threads int     `json:"threads"` // OS threads running the kernel at once
	GFLOPS  float64 `json:"gflops"`  // 2 FLOP per multiply-add, every thread together
}

// Lanes is the float32 lanes of the kernel Measure uses here, 0 where there is none.
func Lanes() int { return int(C.cpupeak_lanes()) }

// run makes n iterations of a = a·m + c on Chains vectors of lanes floats and returns the sum
// of their lanes.
func run(lanes int, n int64, m, c float32) float64 {
	return float64(C.cpupeak_fma(C.int(lanes), C.int64_t(n), C.float(m), C.float(c)))
}

// Measure runs the kernel on threads OS threads at once, each for about d, a few times, and
// returns the best rate: the others were slowed by whatever else the machine did.
func Measure(threads int, d time.Duration) (Peak, error) {
	lanes := Lanes()
	if lanes == 0 {
		return Peak{}, ErrNoKernel
	}
	if threads < 1 || d <= 0 {
		return Peak{}, fmt.Errorf("cpupeak: %d threads for %v: want at least one thread and a positive time", threads, d)
	}
	p := Peak{Kernel: "avx2 fma", Lanes: lanes, Threads: threads}
	if lanes == 16 {
		p.Kernel = "avx512f"
	}
	// Calibrate on one thread: iterations that take about d.
	n := int64(1 << 16)
	for {
		t0 := time.Now()
		run(lanes, n, 1, 1)
		if el := time.Since(t0); el >= d/8 || n >= 1<<40 {
			n = max(1, int64(float64(n)*float64(d)/float64(max(el, time.Microsecond))))
			break
		}
		n *= 4
	}
	const reps = 3
	for range reps {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range threads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				<-start
				run(lanes, n, 1, 1)
			}()
		}
		t0 := time.Now()
		close(start)
		wg.Wait()
		el := time.Since(t0).Seconds()
		flops := 2 * float64(Chains) * float64(lanes) * float64(n) * float64(threads)
		p.GFLOPS = max(p.GFLOPS, flops/el/1e9)
	}
	return p, nil
}
