package csrc

// Setting CGO_CXXFLAGS replaces cgo's default "-g -O2", so the optimisation level is fixed
// here; -g0 because debug information for LibTorch's templates doubles the compile time and
// makes 4.7 MB objects that nobody steps through. The defines CMake used to add for Debian
// (USE_DISTRIBUTED, GLOG_*, ...) are left out: the objects are byte-identical without them,
// and they would be wrong for a LibTorch built otherwise. The C++11 ABI is GCC's default, as
// in Debian's TORCH_CXX_FLAGS; a pre-C++11-ABI LibTorch sets -D_GLIBCXX_USE_CXX11_ABI=0 in
// CGO_CXXFLAGS, which nothing here overrides.

/*
#cgo CXXFLAGS: -std=c++17 -O2 -g0 -DNDEBUG -Wall -Wno-unused-parameter -Wno-maybe-uninitialized
#cgo CXXFLAGS: -include ${SRCDIR}/libtorch_required.h
#cgo CXXFLAGS: -isystem /usr/include/torch/csrc/api/include
#cgo LDFLAGS: -ltorch -ltorch_cpu -lc10
*/
import "C"
