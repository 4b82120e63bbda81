#include "tensor.h"

#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <ATen/ATen.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "handles.hpp"
#include "hugepages.h"
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

#if defined(__GLIBC__)
namespace {
// LibTorch's CPU tensors come from malloc, and glibc's defaults suit a program that allocates
// from one thread in small pieces; a Go program running LibTorch is neither, and the profile
// showed what that costs (docs/performance.md):
//
//   - Each OS thread that allocates gets an arena of its own (up to 8 per core), and Go runs a
//     goroutine's successive cgo calls on whichever thread is free. The tensors of one forward
//     pass then come from several arenas, each caching its own freed blocks: the working set is
//     held once per arena (the peak RSS grew with every call) and each change of arena faults
//     its pages in afresh (thousands a call). One arena, as Python's one allocating thread has.
//   - Freed memory at the top of the heap goes back to the system once it passes the trim
//     threshold, and blocks above the mmap threshold are unmapped on free; glibc moves both with
//     the blocks it sees, and a Go process's heap top, free of Python's small objects, is given
//     back and faulted in again on the next call (16,000 faults a training step at width 64,
//     128 px). Blocks up to 16 MiB come from the heap, which keeps up to 1 GiB of free top: what
//     the process has used it keeps for the next call, never more than its peak. Larger blocks
//     are mapped and unmapped, kept out of the heap, whose fragmentation they would otherwise
//     raise the peak by (paper-size model, batch 1, peak RSS against the threshold: 128 KiB
//     547 MiB, 4 MiB 591, 16 MiB 658, 32 MiB 767); LibTorch's tensors among them are mapped on
//     huge pages (hugepages.cpp), which keeps their faults few.
//
// A variable the user sets (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, or
// the glibc.malloc tunables) wins over each choice.
bool user_set(const char *env, const char *tunable) noexcept {
  const char *tun = std::getenv("GLIBC_TUNABLES");
  return std::getenv(env) != nullptr || (tun != nullptr && std::strstr(tun, tunable) != nullptr);
}

struct MallocSetup {
  MallocSetup() noexcept {
    if (!user_set("MALLOC_ARENA_MAX", "arena_max")) mallopt(M_ARENA_MAX, 1);
    // Setting either threshold stops glibc moving the other, so both are set together.
    if (!user_set("MALLOC_MMAP_THRESHOLD_", "mmap_threshold") && !user_set("MALLOC_TRIM_THRESHOLD_", "trim_threshold")) {
      mallopt(M_MMAP_THRESHOLD, CSAD_MMAP_THRESHOLD);
      mallopt(M_TRIM_THRESHOLD, 1 << 30);
    }
  }
} malloc_setup;
}  // namespace
#endif

// set_thread_count gives the calling OS thread n OpenMP threads. at::set_num_threads would do it
// too, but it also rebuilds LibTorch's process-wide pthreadpool (a thread that spins for
// milliseconds when made), and LibTorch already does that once on each new thread (its lazy
// per-thread initialisation); OpenMP's own setter is all a thread needs. Without OpenMP (a
// LibTorch with its native thread pool) the count is process-wide and at::set_num_threads is
// the way.
void set_thread_count(int n) {
  using setter = void (*)(int);
  static const setter omp = reinterpret_cast<setter>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (omp != nullptr) omp(n);
  else at::set_num_threads(n);
}

void sync_threads() {
  thread_local int applied = 0;
  int want = desired_threads();
  if (applied != want) {
    set_thread_count(want);
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

TorchStatus torch_tensor_data(TorchTensor *t, void **data, size_t *nbytes) noexcept {
  GUARD_BEGIN
  NEED(t);
  NEED(data);
  NEED(nbytes);
  *data = nullptr;
  *nbytes = 0;
  const at::Tensor &x = t->t;
  if (!x.defined()) return csad::fail(TORCH_ERR_INVALID, "undefined tensor has no data");
  if (!x.device().is_cpu())
    return csad::fail(TORCH_ERR_INVALID, "tensor is on " + x.device().str() + ", its memory can only be written on the CPU");
  if (!x.is_contiguous() || x.storage_offset() != 0 || x.is_sparse() || x.is_quantized())
    return csad::fail(TORCH_ERR_INVALID, "tensor is not a dense contiguous tensor at the start of its storage");
  size_t n = x.numel() * x.element_size();
  if (x.storage().nbytes() < n) return csad::fail(TORCH_ERR_INTERNAL, "storage smaller than the tensor");
  *data = n > 0 ? x.data_ptr() : nullptr;
  *nbytes = n;
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

int torch_tensor_is_mkldnn(TorchTensor *t) noexcept {
  try {
    return t != nullptr && t->t.defined() && t->t.is_mkldnn() ? 1 : 0;
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
    // LibTorch's own record, which its per-thread initialisation reads; set only on a change,
    // as setting it rebuilds LibTorch's pthreadpool.
    static std::atomic<int> told{0};
    if (told.exchange(n) != n) at::set_num_threads(n);
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

int64_t torch_native_heap_bytes(void) noexcept {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  // mallinfo2 walks every arena under its lock: cheap enough for a benchmark or a metrics
  // endpoint, not for an inner loop.
  struct mallinfo2 mi = mallinfo2();
  return static_cast<int64_t>(mi.uordblks + mi.hblkhd) + csad_hugepage_mapped_bytes();
#else
  return -1;
#endif
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
