// Package checkpoint reads and writes PyTorch checkpoints in pure Go, so that the cgo torch
// package can move state dicts to and from LibTorch without Python.
//
// # Formats
//
// Load and LoadFile read the zip format that torch.save has written since PyTorch 1.6
// (<archive>/data.pkl, <archive>/data/<key>, <archive>/version, optionally
// <archive>/byteorder). Save and SaveFile write the same format the way PyTorch 2.x does:
// archive version 3, pickle protocol 2, little-endian data records stored uncompressed and
// aligned to 64 bytes. torch.load reads the result, with weights_only=True as well (on
// PyTorch 1.13 only for values without Python floats, whose opcode its restricted unpickler
// lacks). LoadSafetensors, ParseSafetensors, SaveSafetensors and WriteSafetensors handle the
// safetensors format.
//
// # Values
//
// A loaded checkpoint is a tree of *Tensor, *Dict (both dict and collections.OrderedDict,
// in insertion order, with string or int64 keys), List, Tuple, string, int64, float64, bool,
// nil and []byte. Flatten turns a (nested) state dict into dotted parameter names, which is
// what the torch package and safetensors files work with.
//
// Every tensor is materialised contiguous and row-major: views saved with strides or a
// storage offset (a transposed weight, a slice, an expanded tensor) are copied out of their
// storage after checking that every element lies inside it. Device placement is not kept;
// all tensors are CPU data. The _metadata attribute of state dicts (module versions) and
// the Python state of Parameter subclasses are dropped.
//
// # Safety
//
// Loading never executes pickle code. The pickle is first scanned (opcode arguments checked
// against the data, stack shape replayed) and then unpickled with
// github.com/nlpodyssey/gopickle, resolving only the globals torch.save uses for tensors and
// containers; any other global, such as a pickled nn.Module class, is an
// *UnsupportedGlobalError naming it. Malformed, truncated or hostile input yields an error,
// never a panic, and record sizes are checked against the file size before allocating.
//
// # Ownership and threading
//
// Tensors returned by Load own their Data. Tensors returned by ParseSafetensors alias the
// given buffer; those from LoadSafetensors alias a buffer private to them. Save and the other
// writers only read the values given to them. All functions are safe to call concurrently;
// the returned values carry no locks, so share them read-only or synchronise.
//
// # Limitations
//
// The legacy (pre-1.6) pickle-only format, TorchScript archives (torch.jit.save),
// big-endian checkpoints, sparse, quantized and complex tensors and the float8 dtypes are
// not supported and produce errors saying so. Save refuses tensors of 4 GiB or more.
package checkpoint
