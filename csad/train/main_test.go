package train_test

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/csad-go/csad/torch/torchtest"
)

// TestMain runs the tests with OpenBLAS on one thread, as the golden script does: the backward
// of LibTorch's 1×1 convolutions goes through OpenBLAS, whose results depend on its thread
// count, which it reads from the environment once, when it loads, so the test binary re-executes
// itself with the variable set. It also sets OMP_WAIT_POLICY=passive when unset, which OpenMP
// likewise reads only at start-up: with OpenMP's default busy-waiting, idle worker threads spin
// on a loaded 2-core machine and the training-step benchmark's Python side (which inherits the
// environment) ran up to 30× slower than with the same setting as Go.
func TestMain(m *testing.M) {
	const blasThreads, ompWait = "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY"
	if os.Getenv(blasThreads) != "1" {
		exe, err := os.Executable()
		if err == nil {
			err = os.Setenv(blasThreads, "1")
		}
		if err == nil && os.Getenv(ompWait) == "" {
			err = os.Setenv(ompWait, "passive")
		}
		if err == nil {
			err = syscall.Exec(exe, os.Args, os.Environ())
		}
		fmt.Fprintf(os.Stderr, "train tests: cannot re-run with %s=1 (%v); set it and rerun\n", blasThreads, err)
		os.Exit(2)
	}
	torchtest.Main(m)
}
