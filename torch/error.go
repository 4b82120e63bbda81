package torch

/*
#include <stdlib.h>
#include "common.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Code classifies an Error.
type Code int

// Codes mirror csrc/common.h.
const (
	CodeInvalid        Code = C.TORCH_ERR_INVALID
	CodeIndex          Code = C.TORCH_ERR_INDEX
	CodeType           Code = C.TORCH_ERR_TYPE
	CodeNotImplemented Code = C.TORCH_ERR_NOT_IMPLEMENTED
	CodeOutOfMemory    Code = C.TORCH_ERR_OUT_OF_MEMORY
	CodeIO             Code = C.TORCH_ERR_IO
	CodeInternal       Code = C.TORCH_ERR_INTERNAL
	// CodeClosed marks use of a tensor, module or scope after Close.
	CodeClosed Code = 100
)

func (c Code) String() string {
	switch c {
	case CodeInvalid:
		return "invalid argument"
	case CodeIndex:
		return "index out of range"
	case CodeType:
		return "wrong type"
	case CodeNotImplemented:
		return "unsupported by this LibTorch"
	case CodeOutOfMemory:
		return "out of memory"
	case CodeIO:
		return "i/o error"
	case CodeInternal:
		return "internal error"
	case CodeClosed:
		return "use after close"
	}
	return fmt.Sprintf("code %d", int(c))
}

// Error is what every failing call of this package returns. Compare kinds with errors.Is against
// the sentinel values (ErrOutOfMemory, ...) or inspect Code after errors.As.
type Error struct {
	Op   string // the operation, e.g. "aten::conv2d" or "FromSlice"
	Code Code
	Msg  string // LibTorch's message, without C++ backtrace
}

func (e *Error) Error() string {
	s := "torch: "
	if e.Op != "" {
		// The sentinels (ErrClosed, ...) have no Op; printing one must not leave "torch: : ".
		s += e.Op + ": "
	}
	s += e.Code.String()
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// Is matches sentinel errors by code, so errors.Is(err, torch.ErrOutOfMemory) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Op == "" && t.Msg == "" && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrInvalid        = &Error{Code: CodeInvalid}
	ErrIndex          = &Error{Code: CodeIndex}
	ErrType           = &Error{Code: CodeType}
	ErrNotImplemented = &Error{Code: CodeNotImplemented}
	ErrOutOfMemory    = &Error{Code: CodeOutOfMemory}
	ErrIO             = &Error{Code: CodeIO}
	ErrClosed         = &Error{Code: CodeClosed}
)

func errorf(op string, code Code, format string, args ...any) *Error {
	return &Error{Op: op, Code: code, Msg: fmt.Sprintf(format, args...)}
}

// statusErr converts a shim status, freeing its message.
func statusErr(op string, st C.TorchStatus) error {
	if st.code == C.TORCH_OK {
		return nil
	}
	msg := ""
	if st.msg != nil {
		msg = C.GoString(st.msg)
		C.free(unsafe.Pointer(st.msg))
	}
	return &Error{Op: op, Code: Code(st.code), Msg: trimMessage(msg)}
}

// trimMessage keeps LibTorch's first lines; the rest is C++ context Go users cannot act on.
func trimMessage(msg string) string {
	const max = 2000
	if len(msg) > max {
		msg = msg[:max] + "..."
	}
	for len(msg) > 0 && (msg[len(msg)-1] == '\n' || msg[len(msg)-1] == ' ') {
		msg = msg[:len(msg)-1]
	}
	return msg
}
