package torch

// The shim library is built by CMake into build/ (make build); LibTorch itself is found through
// the shim's own rpath, so switching LibTorch only needs a rebuild of the shim.

/*
#cgo CFLAGS: -I${SRCDIR}/../csrc
#cgo LDFLAGS: -L${SRCDIR}/../build -lcsadtorch -Wl,-rpath,${SRCDIR}/../build
#include <stdlib.h>
#include "tensor.h"
#include "dispatch.h"
#include "jit.h"
*/
import "C"
