#include "jit.h"

#include <torch/script.h>

#include "handles.hpp"
#include "status.hpp"

struct TorchModule {
  torch::jit::Module m;
};


extern "C" {

TorchStatus torch_jit_load(const char *path, int device_type, int device_index, TorchModule **out) noexcept {
  GUARD_BEGIN
  NEED(path);
  NEED(out);
  *out = nullptr;
  c10::optional<c10::Device> dev;
  if (device_type >= 0) dev = c10::Device(static_cast<c10::DeviceType>(device_type), static_cast<c10::DeviceIndex>(device_index));
  torch::jit::Module m = torch::jit::load(path, dev);
  *out = new TorchModule{std::move(m)};
  GUARD_END
}

void torch_jit_free(TorchModule *m) noexcept { delete m; }

TorchStatus torch_jit_eval(TorchModule *m, int eval) noexcept {
  GUARD_BEGIN
  NEED(m);
  m->m.train(eval == 0);
  GUARD_END
}

TorchStatus torch_jit_call(TorchModule *m, const char *method, TorchTensor *const *inputs, int ninputs, int mode,
                           TorchTensor **outs, int maxouts, int *nouts) noexcept {
  GUARD_BEGIN
  NEED(nouts);
  *nouts = 0;
  NEED(m);
  NEED(method);
  NEED(outs);
  csad::ModeGuard guard(mode);
  std::vector<c10::IValue> in;
  in.reserve(ninputs);
  for (int i = 0; i < ninputs; i++) {
    if (inputs[i] == nullptr) return csad::fail(TORCH_ERR_INVALID, "input " + std::to_string(i) + " is a NULL handle");
    in.emplace_back(inputs[i]->t);
  }
  auto fn = m->m.find_method(method);
  if (!fn.has_value()) return csad::fail(TORCH_ERR_INVALID, std::string("module has no method ") + method);
  c10::IValue r = (*fn)(std::move(in));
  collect_all(std::vector<c10::IValue>{r}, outs, maxouts, nouts);
  GUARD_END
}

}  // extern "C"
