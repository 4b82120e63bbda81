// C++-only definitions of the opaque handle types.
#ifndef CSAD_HANDLES_HPP
#define CSAD_HANDLES_HPP

#include <ATen/ATen.h>

struct TorchTensor {
  at::Tensor t;
};

inline TorchTensor *wrap(at::Tensor t) { return new TorchTensor{std::move(t)}; }

#endif
