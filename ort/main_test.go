package ort

import (
	"fmt"
	"os"
	"testing"
)

// childEnv makes the test binary act as a fresh process for Init tests: Init's state is
// process-wide, so a failing load can only be observed before any success.
const childEnv = "CSAD_ORT_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	// make test runs after make setup, which installs the library: without it every test
	// would fail with the same message, so say it once and fail.
	if _, err := os.Stat(LibraryPath()); err != nil {
		fmt.Fprintf(os.Stderr, "ort: FAIL: ONNX Runtime library %s: %v (run `make setup` or set ORT_LIB)\n", LibraryPath(), err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// runChild calls Init twice (a failure must be returned again, not cached as success) and
// NewSession once, printing each error on its own line.
func runChild() int {
	for range 2 {
		fmt.Printf("init: %v\n", Init())
	}
	_, err := NewSession([]byte("x"), Options{})
	fmt.Printf("session: %v\n", err)
	return 0
}
