package ort

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	onnxruntime "github.com/yalue/onnxruntime_go"
)

// LibraryVersion is the ONNX Runtime release `make setup` installs and LibraryPath points at.
const LibraryVersion = "1.30.0"

// ErrClosed is returned by Run on a Session that Close has freed.
var ErrClosed = errors.New("ort: session is closed")

// LibraryPath resolves the shared library: $ORT_LIB if set, else
// $XDG_CACHE_HOME/csad-go/onnxruntime-1.30.0/libonnxruntime.so.1 (XDG_CACHE_HOME defaults to
// ~/.cache), which `make setup` fills from the npm package onnxruntime-node@1.30.0.
func LibraryPath() string {
	if p := os.Getenv("ORT_LIB"); p != "" {
		return p
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil || home == "" {
			// A relative path still yields an error that names what was tried.
			home = "~"
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "csad-go", "onnxruntime-"+LibraryVersion, "libonnxruntime.so.1")
}

// The environment is process-wide in onnxruntime_go, so one mutex guards it. A failure is
// not remembered: the next Init tries again (re-reading ORT_LIB), because a failed dlopen
// leaves no state behind and a long-running process should recover once `make setup` ran.
// Success is final; the environment lives until the process exits.
var (
	initMu      sync.Mutex
	initDone    bool
	initVersion string
)

// Init loads the library once per process (idempotent, safe from many goroutines). A missing or
// unloadable library is an error naming the path tried, `make setup` and ORT_LIB. Failures are
// retried on the next call; success is kept for the life of the process.
func Init() error {
	initMu.Lock()
	defer initMu.Unlock()
	if initDone {
		return nil
	}
	path := LibraryPath()
	fix := "run `make setup` to install ONNX Runtime " + LibraryVersion +
		", or set ORT_LIB to the path of a libonnxruntime.so (1.24 or newer)"
	// A bare file name is the dynamic loader's to search (LD_LIBRARY_PATH, ld.so.cache), as
	// dlopen does; only a path can be checked here first, for a clearer message.
	var st os.FileInfo
	var err error
	if strings.Contains(path, "/") {
		st, err = os.Stat(path)
	}
	switch {
	case st == nil && err == nil:
	case err != nil:
		return fmt.Errorf("ort: ONNX Runtime library %s not found (%v); %s", path, statErr(err), fix)
	case st.IsDir():
		return fmt.Errorf("ort: ONNX Runtime library %s is a directory, not a shared library; %s", path, fix)
	}
	if onnxruntime.IsInitialized() {
		// Someone else in this process set the environment up through onnxruntime_go directly;
		// sharing it is correct (there can be only one).
		initDone = true
		initVersion = onnxruntime.GetVersion()
		return nil
	}
	onnxruntime.SetSharedLibraryPath(path)
	// Every ONNX Runtime error reaches the caller as an error value; its own logging of the
	// same error to stderr would only duplicate it.
	if err := onnxruntime.InitializeEnvironment(onnxruntime.WithLogLevelFatal()); err != nil {
		msg := strings.TrimPrefix(err.Error(), "Platform-specific initialization failed: ")
		msg = strings.TrimPrefix(msg, fmt.Sprintf("Error loading ONNX shared library \"%s\": ", path))
		switch {
		case strings.Contains(msg, "OrtGetApiBase"):
			return fmt.Errorf("ort: ONNX Runtime library %s is a shared library but not ONNX Runtime "+
				"(it has no OrtGetApiBase); %s", path, fix)
		case strings.Contains(msg, "ORT API base"):
			return fmt.Errorf("ort: ONNX Runtime library %s is too old: it does not offer C API "+
				"version 24 (ONNX Runtime 1.24), which github.com/yalue/onnxruntime_go v1.27.0 needs; %s",
				path, fix)
		}
		return fmt.Errorf("ort: cannot load ONNX Runtime library %s (%s); %s", path, msg, fix)
	}
	initDone = true
	initVersion = onnxruntime.GetVersion()
	return nil
}

// Version is the loaded library's version string ("1.30.0"); it calls Init.
func Version() (string, error) {
	if err := Init(); err != nil {
		return "", err
	}
	initMu.Lock()
	defer initMu.Unlock()
	return initVersion, nil
}

func statErr(err error) string {
	if errors.Is(err, os.ErrNotExist) {
		return "no such file"
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// Options configure a Session.
type Options struct {
	Threads int // intra-op threads; 0 = ONNX Runtime's default
}

// DType is the element type of a tensor input or output.
type DType int

// The element types a model may declare. Inputs and outputs of any other type make
// NewSession fail.
const (
	Float32 DType = iota + 1
	Float16
	Int32
	Int64
)

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float16:
		return "float16"
	case Int32:
		return "int32"
	case Int64:
		return "int64"
	}
	return fmt.Sprintf("dtype(%d)", int(d))
}

// Info describes one graph input or output.
type Info struct {
	Name  string
	DType DType
	Shape []int64 // -1 for a dynamic axis
}

// Tensor is host data of one input or output; exactly one of the slices is set.
// A float16 input is fed from Float32 (rounded to nearest even).
type Tensor struct {
	Shape   []int64
	Float32 []float32
	Int32   []int32
	Int64   []int64
}
