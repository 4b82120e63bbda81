// Package csrc is csad-go's C++ shim between Go and LibTorch: a plain C ABI over ATen's
// dispatcher, tensors and TorchScript modules, where every failure comes back as a status and
// no C++ exception ever crosses into Go. Its Go side is empty; package torch imports it for
// the objects it links and declares the C functions from the headers here.
//
// # Building
//
// cgo compiles the .cpp files of this folder into every binary that imports package torch, as
// go-sqlite3 compiles SQLite, so go get, go build and go vet need no separate step and a
// binary needs only LibTorch's shared libraries at run time. It is the only way the shim is
// built; cgo recompiles it when a file here changes, which it would not notice for sources
// included from another folder.
//
// The default flags target Debian's libtorch-dev (apt install libtorch-dev): headers under
// /usr/include, libraries in the default search path. Another LibTorch (the official zip, a
// pip wheel's torch/ folder, a CUDA build) is selected with the environment cgo reads; its
// folders come first because cgo puts CGO_CXXFLAGS and CGO_LDFLAGS before the flags here:
//
//	L=$HOME/libtorch
//	export CGO_CXXFLAGS="-isystem $L/include -isystem $L/include/torch/csrc/api/include -D_GLIBCXX_USE_CXX11_ABI=1"
//	export CGO_LDFLAGS="-L$L/lib -Wl,-rpath,$L/lib"   # CUDA: add -Wl,--no-as-needed -ltorch_cuda
//
// The ABI define must match the TORCH_CXX_FLAGS in $L/share/cmake/Torch/TorchConfig.cmake;
// make LIBTORCH=$L computes all of it. Without LibTorch's headers the build stops with an
// error that says so (libtorch_required.h).
package csrc
