// Large CPU tensors on transparent huge pages. glibc maps every block above the shim's 16 MiB
// mmap threshold (tensor.cpp) afresh and unmaps it when freed, and the kernel faults each 4 KiB
// page in on first touch: a paper-size forward pass at batch 8 took 1.6–2.0 million faults and
// 5.3–6.6 s of system time a call, in Go as in Python, a third of its CPU time. LibTorch's CPU
// allocator is wrapped so that those blocks are mapped here instead, 2 MiB-aligned and advised
// as huge pages (MADV_HUGEPAGE): the kernel then faults them in 2 MiB at a time (about 4,000
// faults, 3.0 s of system time, the call 8 % faster), and they are unmapped when freed,
// as glibc does, so what a process holds does not change. Smaller blocks, and every block where
// the kernel has transparent huge pages off or CSAD_HUGEPAGES=0 is set, go to LibTorch's default
// allocator as before.
#include "hugepages.h"

#include <sys/mman.h>

#if defined(__linux__) && defined(MADV_HUGEPAGE)

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <unordered_map>

#include <c10/core/CPUAllocator.h>

namespace {

constexpr size_t kHuge = size_t(2) << 20;     // the x86-64 huge page
constexpr size_t kMinMapped = CSAD_MMAP_THRESHOLD;  // the blocks glibc would map anyway

std::atomic<int64_t> g_mapped{0};

// thp_usable: the kernel has transparent huge pages for madvised memory and the user did not
// turn them off.
bool thp_usable() {
  const char *env = std::getenv("CSAD_HUGEPAGES");
  if (env != nullptr && std::strcmp(env, "0") == 0) return false;
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string s;
  if (!std::getline(f, s)) return false;
  return s.find("[always]") != std::string::npos || s.find("[madvise]") != std::string::npos;
}

class HugePageAllocator final : public c10::Allocator {
 public:
  explicit HugePageAllocator(c10::Allocator *base) : base_(base), base_free_(base->raw_deleter()) {}

  c10::DataPtr allocate(size_t n) const override {
    if (n >= kMinMapped) {
      if (void *p = map(n)) return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
    }
    return base_->allocate(n);  // and its out-of-memory error where mapping failed
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  // release is the deleter of every block handed out, mapped here or not: raw_allocate keeps
  // only the pointer, so raw_deallocate reaches here for both kinds.
  static void release(void *p) {
    HugePageAllocator *a = instance();
    if (p != nullptr && reinterpret_cast<uintptr_t>(p) % kHuge == 0) {
      size_t len = 0;
      {
        std::lock_guard<std::mutex> g(a->mu_);
        auto it = a->len_.find(p);
        if (it != a->len_.end()) {
          len = it->second;
          a->len_.erase(it);
        }
      }
      if (len != 0) {
        munmap(p, len);
        g_mapped.fetch_sub(int64_t(len), std::memory_order_relaxed);
        return;
      }
    }
    a->base_free_(p);
  }

  static HugePageAllocator *instance();

 private:
  // map reserves n bytes rounded up to whole huge pages at a huge-page boundary (a larger
  // mapping trimmed at both ends), or returns nullptr.
  void *map(size_t n) const {
    size_t len = (n + kHuge - 1) / kHuge * kHuge;
    size_t span = len + kHuge;
    void *raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    uintptr_t start = reinterpret_cast<uintptr_t>(raw);
    uintptr_t aligned = (start + kHuge - 1) / kHuge * kHuge;
    if (aligned > start) munmap(raw, aligned - start);
    uintptr_t end = start + span, used = aligned + len;
    if (end > used) munmap(reinterpret_cast<void *>(used), end - used);
    void *p = reinterpret_cast<void *>(aligned);
    madvise(p, len, MADV_HUGEPAGE);  // advice: without it the block still works, on 4 KiB pages
    try {
      std::lock_guard<std::mutex> g(mu_);
      len_[p] = len;
    } catch (...) {  // no room to record it: not handed out, so not leaked either
      munmap(p, len);
      return nullptr;
    }
    g_mapped.fetch_add(int64_t(len), std::memory_order_relaxed);
    return p;
  }

  c10::Allocator *base_;
  c10::DeleterFnPtr base_free_;
  mutable std::mutex mu_;
  mutable std::unordered_map<void *, size_t> len_;  // every block mapped here, by its start
};

HugePageAllocator *HugePageAllocator::instance() {
  // Never destroyed: tensors freed by static destructors at exit still reach release.
  static HugePageAllocator *a = new HugePageAllocator(c10::GetDefaultCPUAllocator());
  return a;
}

struct Install {
  Install() noexcept {
    try {
      if (thp_usable()) c10::SetCPUAllocator(HugePageAllocator::instance(), /*priority=*/1);
    } catch (...) {
    }
  }
} install;

}  // namespace

int64_t csad_hugepage_mapped_bytes(void) noexcept { return g_mapped.load(std::memory_order_relaxed); }

#else  // no transparent huge pages to ask for: LibTorch's allocator as it is

int64_t csad_hugepage_mapped_bytes(void) noexcept { return 0; }

#endif
