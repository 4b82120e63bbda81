#include "dispatch.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

#include "handles.hpp"
#include "status.hpp"

struct TorchOp {
  c10::OperatorHandle handle;
  std::string name;
};

namespace {

c10::IValue to_ivalue(int kind, int64_t a, int64_t b, const int64_t *ipool, const double *dpool,
                      TorchTensor *const *tpool, const char *spool, const c10::Argument &arg) {
  switch (kind) {
    case TORCH_ARG_NONE:
      return c10::IValue();
    case TORCH_ARG_DEFAULT:
      if (!arg.default_value().has_value())
        throw std::invalid_argument("argument '" + arg.name() + "' has no default value");
      return *arg.default_value();
    case TORCH_ARG_TENSOR:
      if (tpool == nullptr || tpool[a] == nullptr) return c10::IValue();
      return c10::IValue(tpool[a]->t);
    case TORCH_ARG_INT:
    case TORCH_ARG_DTYPE:
      return c10::IValue(a);
    case TORCH_ARG_BOOL:
      return c10::IValue(a != 0);
    case TORCH_ARG_DOUBLE:
      return c10::IValue(dpool[a]);
    case TORCH_ARG_SCALAR_INT:
      return c10::IValue(c10::Scalar(a));
    case TORCH_ARG_SCALAR_DOUBLE:
      return c10::IValue(c10::Scalar(dpool[a]));
    case TORCH_ARG_INTS:
      return c10::IValue(std::vector<int64_t>(ipool + a, ipool + a + b));
    case TORCH_ARG_DOUBLES:
      return c10::IValue(std::vector<double>(dpool + a, dpool + a + b));
    case TORCH_ARG_TENSORS: {
      c10::List<at::Tensor> list;
      list.reserve(b);
      for (int64_t i = 0; i < b; i++) {
        if (tpool[a + i] == nullptr) throw std::invalid_argument("argument '" + arg.name() + "' holds a None tensor");
        list.push_back(tpool[a + i]->t);
      }
      return c10::IValue(list);
    }
    case TORCH_ARG_OPT_TENSORS: {
      c10::List<c10::optional<at::Tensor>> list;
      list.reserve(b);
      for (int64_t i = 0; i < b; i++)
        list.push_back(tpool[a + i] == nullptr ? c10::optional<at::Tensor>() : c10::optional<at::Tensor>(tpool[a + i]->t));
      return c10::IValue(list);
    }
    case TORCH_ARG_STRING:
      return c10::IValue(std::string(spool + a, spool + a + b));
    case TORCH_ARG_DEVICE:
      return c10::IValue(c10::Device(static_cast<c10::DeviceType>(a), static_cast<c10::DeviceIndex>(b)));
  }
  throw std::invalid_argument("unknown argument kind " + std::to_string(kind));
}

}  // namespace

extern "C" {

TorchStatus torch_op_find(const char *name, const char *overload, TorchOp **out) noexcept {
  GUARD_BEGIN
  NEED(name);
  NEED(overload);
  NEED(out);
  *out = nullptr;
  auto h = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!h.has_value()) {
    std::string full = std::string(name) + (overload[0] ? std::string(".") + overload : "");
    return csad::fail(TORCH_ERR_NOT_IMPLEMENTED, "operator " + full + " is not in this LibTorch");
  }
  *out = new TorchOp{*h, name};
  GUARD_END
}

TorchStatus torch_op_call(TorchOp *op, int nargs, const int32_t *kinds, const int64_t *a, const int64_t *b,
                          const int64_t *ipool, const double *dpool, TorchTensor *const *tpool, const char *spool,
                          int mode, TorchTensor **outs, int maxouts, int *nouts) noexcept {
  GUARD_BEGIN
  NEED(nouts);
  *nouts = 0;
  NEED(op);
  if (maxouts > 0) NEED(outs);
  csad::ModeGuard guard(mode);
  const auto &args = op->handle.schema().arguments();
  if (static_cast<size_t>(nargs) > args.size())
    return csad::fail(TORCH_ERR_INVALID, op->name + " takes " + std::to_string(args.size()) + " arguments, got " +
                                             std::to_string(nargs));
  // One stack per OS thread, reused: a call never runs another on the same thread before it
  // returns, and keeping the vector's capacity saves an allocation per call. It is emptied on
  // every way out, so no tensor outlives the call in it.
  thread_local torch::jit::Stack stack;
  struct Clear {
    torch::jit::Stack &s;
    ~Clear() { s.clear(); }
  } clear{stack};
  stack.clear();
  stack.reserve(args.size());
  for (size_t i = 0; i < args.size(); i++) {
    int kind = i < static_cast<size_t>(nargs) ? kinds[i] : TORCH_ARG_DEFAULT;
    stack.push_back(to_ivalue(kind, i < static_cast<size_t>(nargs) ? a[i] : 0,
                              i < static_cast<size_t>(nargs) ? b[i] : 0, ipool, dpool, tpool, spool, args[i]));
  }
  op->handle.callBoxed(&stack);
  if (maxouts == 0) {
    // The caller holds the result already (an in-place operator's alias): count it, wrap nothing.
    *nouts = static_cast<int>(stack.size());
  } else {
    collect_all(stack, outs, maxouts, nouts);
  }
  GUARD_END
}

}  // extern "C"
