// C++-only definitions of the opaque handle types.
#ifndef CSAD_HANDLES_HPP
#define CSAD_HANDLES_HPP

#include <ATen/ATen.h>
#include <ATen/core/ivalue.h>

#include <stdexcept>

struct TorchTensor {
  at::Tensor t;
};

inline TorchTensor *wrap(at::Tensor t) { return new TorchTensor{std::move(t)}; }

// Flattens the tensors of an operator's or module's result (tensors, tuples and lists of them;
// None is skipped) into outs. On error the handles made so far are freed and *n reset.
inline void collect_tensors(const c10::IValue &v, TorchTensor **outs, int maxouts, int *n) {
  if (v.isTensor()) {
    if (*n >= maxouts) throw std::length_error("result has more tensors than expected");
    outs[(*n)++] = wrap(v.toTensor());
  } else if (v.isTensorList()) {
    for (const at::Tensor &t : v.toTensorVector()) collect_tensors(c10::IValue(t), outs, maxouts, n);
  } else if (v.isTuple()) {
    for (const c10::IValue &e : v.toTupleRef().elements()) collect_tensors(e, outs, maxouts, n);
  } else if (v.isList()) {
    for (const c10::IValue &e : v.toListRef()) collect_tensors(e, outs, maxouts, n);
  } else if (!v.isNone()) {
    throw std::invalid_argument("result holds a " + v.tagKind() + "; only tensors, tuples and lists are supported");
  }
}

// collect_all is collect_tensors over several values, all or nothing.
template <typename Values>
void collect_all(const Values &vs, TorchTensor **outs, int maxouts, int *nouts) {
  int n = 0;
  try {
    for (const c10::IValue &v : vs) collect_tensors(v, outs, maxouts, &n);
  } catch (...) {
    for (int i = 0; i < n; i++) delete outs[i];
    throw;
  }
  *nouts = n;
}

#endif
