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
// itself with the variable set.
func TestMain(m *testing.M) {
	const blasThreads = "OPENBLAS_NUM_THREADS"
	if os.Getenv(blasThreads) != "1" {
		exe, err := os.Executable()
		if err == nil {
			err = os.Setenv(blasThreads, "1")
		}
		if err == nil {
			err = syscall.Exec(exe, os.Args, os.Environ())
		}
		fmt.Fprintf(os.Stderr, "train tests: cannot re-run with %s=1 (%v); set it and rerun\n", blasThreads, err)
		os.Exit(2)
	}
	torchtest.Main(m)
}
