#include "tensor.h"

#include <atomic>

#include <ATen/ATen.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "handles.hpp"
#include "status.hpp"

namespace csad {

namespace {
std::atomic<int> g_num_threads{0};

// The count every thread should use: the one set through the shim, else LibTorch's own default
// (physical cores, what Python's torch.get_num_threads() reports), taken once.
int desired_threads() {
  int v = g_num_threads.load(std::memory_order_relaxed);
  if (v == 0) {
    int expected = 0;
    g_num_threads.compare_exchange_strong(expected, at::get_num_threads());
    v = g_num_threads.load();
  }
  return v;
}
}  // namespace

void sync_threads() {
  thread_local int applied = 0;
  int want = desired_threads();
  if (applied != want) {
    at::set_num_threads(want);
    applied = want;
  }
}

}  // namespace csad

extern "C" {

TorchStatus torch_tensor_from_data(const void *data, size_t nbytes, int dtype, const int64_t *shape, int ndim,
                                   TorchTensor **out) noexcept {
  GUARD_BEGIN
  NEED(out);
  *out = nullptr;
  auto st = static_cast<c10::ScalarType>(dtype);
  std::vector<int64_t> sizes(shape, shape + ndim);
  at::Tensor t = at::empty(sizes, at::TensorOptions().dtype(st));
  size_t want = t.numel() * t.element_size();
  if (want != nbytes)
    return csad::fail(TORCH_ERR_INVALID, "data has " + std::to_string(nbytes) + " bytes, shape needs " +
                                             std::to_string(want));
  if (nbytes > 0) std::memcpy(t.data_ptr(), data, nbytes);
  *out = wrap(std::move(t));
  GUARD_END
}

TorchStatus torch_tensor_copy_to(TorchTensor *t, void *dst, size_t nbytes) noexcept {
  GUARD_BEGIN
  NEED(t);
  at::Tensor c = t->t.detach().to(at::kCPU).contiguous();
  size_t have = c.numel() * c.element_size();
  if (have != nbytes)
    return csad::fail(TORCH_ERR_INVALID, "destination has " + std::to_string(nbytes) + " bytes, tensor has " +
                                             std::to_string(have));
  if (nbytes > 0) std::memcpy(dst, c.data_ptr(), nbytes);
  GUARD_END
}

// The functions below have no status to report through, so each is noexcept in fact: it touches
// only what cannot throw, or catches everything and answers "no value".

void torch_tensor_free(TorchTensor *t) noexcept { delete t; }

// nothrow new: a failed allocation is a NULL handle, which the Go side reports as out of memory.
// Copying an at::Tensor only bumps a reference count and cannot throw.
TorchTensor *torch_tensor_share(TorchTensor *t) noexcept {
  if (t == nullptr) return nullptr;
  return new (std::nothrow) TorchTensor{t->t};
}

int torch_tensor_dim(TorchTensor *t) noexcept {
  try {
    return t != nullptr && t->t.defined() ? static_cast<int>(t->t.dim()) : -1;
  } catch (...) {
    return -1;
  }
}

int torch_tensor_sizes(TorchTensor *t, int64_t *shape, int ndim) noexcept {
  try {
    if (t == nullptr || !t->t.defined()) return -1;
    auto s = t->t.sizes();
    if (s.size() != static_cast<size_t>(ndim)) return -1;
    for (size_t i = 0; i < s.size(); i++) shape[i] = s[i];
    return 0;
  } catch (...) {
    return -1;
  }
}

int torch_tensor_dtype(TorchTensor *t) noexcept {
  try {
    return t != nullptr && t->t.defined() ? static_cast<int>(t->t.scalar_type()) : -1;
  } catch (...) {
    return -1;
  }
}

void torch_tensor_device(TorchTensor *t, int *type, int *index) noexcept {
  *type = -1;
  *index = -1;
  try {
    if (t == nullptr || !t->t.defined()) return;
    auto d = t->t.device();
    *type = static_cast<int>(d.type());
    *index = d.index();
  } catch (...) {
    *type = -1;
    *index = -1;
  }
}

int torch_tensor_requires_grad(TorchTensor *t) noexcept {
  try {
    return t != nullptr && t->t.defined() && t->t.requires_grad() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

int torch_tensor_is_contiguous(TorchTensor *t) noexcept {
  try {
    return t != nullptr && t->t.defined() && t->t.is_contiguous() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

int torch_tensor_same(TorchTensor *a, TorchTensor *b) noexcept {
  return a != nullptr && b != nullptr && a->t.is_same(b->t) ? 1 : 0;
}

TorchStatus torch_tensor_set_requires_grad(TorchTensor *t, int requires_grad) noexcept {
  GUARD_BEGIN
  NEED(t);
  t->t.set_requires_grad(requires_grad != 0);
  GUARD_END
}

TorchStatus torch_tensor_backward(TorchTensor *t, TorchTensor *grad, int retain_graph) noexcept {
  GUARD_BEGIN
  NEED(t);
  csad::sync_threads();
  at::AutoGradMode enable(true);
  at::Tensor g = grad != nullptr ? grad->t : at::Tensor();
  t->t.backward(g, retain_graph != 0 ? c10::optional<bool>(true) : c10::nullopt);
  GUARD_END
}

TorchStatus torch_tensor_grad(TorchTensor *t, TorchTensor **out) noexcept {
  GUARD_BEGIN
  NEED(t);
  NEED(out);
  *out = nullptr;
  const at::Tensor &g = t->t.grad();
  if (g.defined()) *out = wrap(g);
  GUARD_END
}

TorchStatus torch_tensor_zero_grad(TorchTensor *t) noexcept {
  GUARD_BEGIN
  NEED(t);
  t->t.mutable_grad().reset();
  GUARD_END
}

// Assigning an at::Tensor swaps reference-counted pointers and cannot throw.
void torch_tensor_replace(TorchTensor *dst, TorchTensor *src) noexcept {
  if (dst != nullptr && src != nullptr) dst->t = src->t;
}

TorchStatus torch_tensor_assign(TorchTensor *dst, TorchTensor *src) noexcept {
  GUARD_BEGIN
  NEED(dst);
  NEED(src);
  at::NoGradGuard no_grad;
  if (dst->t.sizes() != src->t.sizes())
    return csad::fail(TORCH_ERR_INVALID, "shape " + c10::str(src->t.sizes()) + " does not match " +
                                             c10::str(dst->t.sizes()));
  dst->t.copy_(src->t);
  GUARD_END
}

TorchStatus torch_manual_seed(uint64_t seed) noexcept {
  GUARD_BEGIN
  torch::manual_seed(seed);
  GUARD_END
}

// LibTorch only rejects counts below 1, which are filtered out first; anything else it might
// throw leaves the previous count in place, which torch_get_num_threads then reports.
void torch_set_num_threads(int n) noexcept {
  if (n < 1) return;
  try {
    csad::desired_threads();
    csad::g_num_threads.store(n);
    csad::sync_threads();
  } catch (...) {
  }
}

int torch_get_num_threads(void) noexcept {
  try {
    return csad::desired_threads();
  } catch (...) {
    return csad::g_num_threads.load();
  }
}

int torch_cuda_is_available(void) noexcept {
  try {
    return torch::cuda::is_available() ? 1 : 0;
  } catch (...) {
    return 0;
  }
}

int torch_cuda_device_count(void) noexcept {
  try {
    return static_cast<int>(torch::cuda::device_count());
  } catch (...) {
    return 0;
  }
}

const char *torch_version(void) noexcept { return TORCH_VERSION; }

}  // extern "C"
