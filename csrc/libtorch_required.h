/* Force-included (-include) before every .cpp of the shim, so that a machine without LibTorch
 * fails with a message naming the fix instead of a bare "ATen/ATen.h: No such file". */
#ifndef CSAD_LIBTORCH_REQUIRED_H
#define CSAD_LIBTORCH_REQUIRED_H
#if !__has_include(<torch/torch.h>) || !__has_include(<ATen/ATen.h>)
#error "csad-go: LibTorch headers not found: install Debian's libtorch-dev (sudo apt install libtorch-dev, or make setup), or set CGO_CXXFLAGS/CGO_LDFLAGS for another LibTorch (README.md: Another LibTorch)"
#endif
#endif
