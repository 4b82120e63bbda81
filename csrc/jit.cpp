#include "jit.h"

#include <torch/script.h>

#include "handles.hpp"
#include "status.hpp"

struct TorchModule {
  torch::jit::Module m;
};

namespace {

void flatten(const c10::IValue &v, TorchTensor **outs, int maxouts, int *n) {
  if (v.isTensor()) {
    if (*n >= maxouts) throw std::length_error("module returned more tensors than expected");
    outs[(*n)++] = wrap(v.toTensor());
  } else if (v.isTuple()) {
    for (const auto &e : v.toTupleRef().elements()) flatten(e, outs, maxouts, n);
  } else if (v.isList()) {
    for (const auto &e : v.toListRef()) flatten(e, outs, maxouts, n);
  } else {
    throw std::invalid_argument("module returned a " + v.tagKind() + ", only tensors, tuples and lists are supported");
  }
}

}  // namespace

extern "C" {

TorchStatus torch_jit_load(const char *path, int device_type, int device_index, TorchModule **out) {
  GUARD_BEGIN
  *out = nullptr;
  c10::optional<c10::Device> dev;
  if (device_type >= 0) dev = c10::Device(static_cast<c10::DeviceType>(device_type), static_cast<c10::DeviceIndex>(device_index));
  torch::jit::Module m = torch::jit::load(path, dev);
  *out = new TorchModule{std::move(m)};
  GUARD_END
}

void torch_jit_free(TorchModule *m) { delete m; }

TorchStatus torch_jit_eval(TorchModule *m, int eval) {
  GUARD_BEGIN
  m->m.train(eval == 0);
  GUARD_END
}

TorchStatus torch_jit_call(TorchModule *m, const char *method, TorchTensor *const *inputs, int ninputs, int mode,
                           TorchTensor **outs, int maxouts, int *nouts) {
  *nouts = 0;
  int n = 0;
  GUARD_BEGIN
  csad::ModeGuard guard(mode);
  std::vector<c10::IValue> in;
  in.reserve(ninputs);
  for (int i = 0; i < ninputs; i++) in.emplace_back(inputs[i]->t);
  auto fn = m->m.find_method(method);
  if (!fn.has_value()) return csad::fail(TORCH_ERR_INVALID, std::string("module has no method ") + method);
  c10::IValue r = (*fn)(std::move(in));
  try {
    flatten(r, outs, maxouts, &n);
  } catch (...) {
    for (int i = 0; i < n; i++) delete outs[i];
    n = 0;
    throw;
  }
  *nouts = n;
  GUARD_END
}

}  // extern "C"
