package checkpoint

import "errors"

// Error is returned by the functions of this package that read or write files. It names the
// operation and, when one is known, the file.
type Error struct {
	Op   string // "load", "save", "load safetensors", "save safetensors"
	Path string // empty for readers and writers that are not files
	Err  error
}

func (e *Error) Error() string {
	s := "checkpoint: " + e.Op
	if e.Path != "" {
		s += " " + e.Path
	}
	return s + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrUnsupportedGlobal is matched (with errors.Is) by every error about a pickle that refers
// to a Python global outside the allowlist.
var ErrUnsupportedGlobal = errors.New("unsupported global")

// UnsupportedGlobalError reports a pickle global outside the allowlist. Loading never imports
// or calls anything, so only tensors and plain containers can be rebuilt.
type UnsupportedGlobalError struct{ Module, Name string }

func (e *UnsupportedGlobalError) Error() string {
	return "pickle uses unsupported global " + e.Module + "." + e.Name +
		"; only tensors and plain containers can be loaded (save model.state_dict() rather than the model, " +
		"or convert custom objects to dicts, lists and tensors before torch.save)"
}

func (e *UnsupportedGlobalError) Is(target error) bool { return target == ErrUnsupportedGlobal }
