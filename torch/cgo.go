package torch

// The shim itself is package csrc, compiled by cgo from ../csrc with LibTorch's flags; this
// package only calls it through the plain-C headers, so it needs no LibTorch flags of its own.

/*
#cgo CFLAGS: -I${SRCDIR}/../csrc
#include <stdlib.h>
#include "tensor.h"
#include "dispatch.h"
#include "jit.h"
*/
import "C"

import _ "github.com/csad-go/csad/csrc" // the shim's objects and LibTorch's link flags
