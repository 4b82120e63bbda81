// C++-only helpers shared by the shim's translation units: turning exceptions into TorchStatus.
#ifndef CSAD_STATUS_HPP
#define CSAD_STATUS_HPP

#include <c10/util/Exception.h>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>

#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>

#include "common.h"

namespace csad {

inline TorchStatus ok() noexcept { return TorchStatus{TORCH_OK, nullptr}; }

// fail copies msg with malloc, never with new, so it also works while handling an out-of-memory
// error; when even that copy fails the status carries the code alone (msg NULL).
inline TorchStatus fail(int code, const char *msg) noexcept {
  size_t n = std::strlen(msg);
  char *m = static_cast<char *>(std::malloc(n + 1));
  if (m != nullptr) std::memcpy(m, msg, n + 1);
  return TorchStatus{code, m};
}

inline TorchStatus fail(int code, const std::string &msg) noexcept { return fail(code, msg.c_str()); }

// The message of std::bad_alloc: static, because building one (std::string) could itself throw
// when memory has run out.
inline constexpr const char kOutOfMemory[] =
    "a host allocation failed (std::bad_alloc); free memory or use smaller inputs";

// Maps a c10::Error to a code. CPU allocation failures are plain c10::Errors, recognised by text.
// It reads the message in place (what_without_backtrace is noexcept) so that no copy is made.
inline TorchStatus from_c10(const c10::Error &e) noexcept {
  const char *msg = e.what_without_backtrace();
  auto has = [msg](const char *needle) { return std::strstr(msg, needle) != nullptr; };
  int code = TORCH_ERR_INVALID;
  if (dynamic_cast<const c10::IndexError *>(&e) != nullptr) code = TORCH_ERR_INDEX;
  else if (dynamic_cast<const c10::TypeError *>(&e) != nullptr) code = TORCH_ERR_TYPE;
  else if (dynamic_cast<const c10::NotImplementedError *>(&e) != nullptr) code = TORCH_ERR_NOT_IMPLEMENTED;
  else if (has("not enough memory") || has("out of memory") || has("can't allocate memory"))
    code = TORCH_ERR_OUT_OF_MEMORY;
  else if (has("open file failed") || has("No such file") || has("PytorchStreamReader"))
    code = TORCH_ERR_IO;
  return fail(code, msg);
}

// Makes the calling OS thread use the process-wide intra-op thread count. LibTorch's OpenMP
// backend keeps the count per OS thread and oneDNN kernels read it directly, so a goroutine that
// lands on a fresh thread would otherwise use every CPU and round reductions differently from
// Python. Defined in tensor.cpp.
void sync_threads();

// Applies a grad mode (and the thread count) for the duration of one call.
class ModeGuard {
 public:
  explicit ModeGuard(int mode) {
    sync_threads();
    if (mode == TORCH_MODE_INFERENCE) inference_.emplace(true);
    else grad_.emplace(mode == TORCH_MODE_GRAD);
  }

 private:
  std::optional<c10::InferenceMode> inference_;
  std::optional<at::AutoGradMode> grad_;
};

}  // namespace csad

// Every entry point body that can fail sits between GUARD_BEGIN and GUARD_END so no exception
// crosses into C. The handlers only call the noexcept fail/from_c10 with messages that already
// exist: nothing in them allocates with new.
#define GUARD_BEGIN try {

// The Go side never passes a NULL handle; checking anyway turns a binding bug into an error
// instead of a crash.
#define NEED(p) \
  if ((p) == nullptr) return csad::fail(TORCH_ERR_INTERNAL, "shim called with a NULL " #p " handle")
#define GUARD_END                                                                                 \
  }                                                                                               \
  catch (const c10::Error &e) { return csad::from_c10(e); }                                       \
  catch (const std::bad_alloc &) { return csad::fail(TORCH_ERR_OUT_OF_MEMORY, csad::kOutOfMemory); } \
  catch (const std::invalid_argument &e) { return csad::fail(TORCH_ERR_INVALID, e.what()); }      \
  catch (const std::out_of_range &e) { return csad::fail(TORCH_ERR_INDEX, e.what()); }            \
  catch (const std::runtime_error &e) { return csad::fail(TORCH_ERR_INVALID, e.what()); }         \
  catch (const std::exception &e) { return csad::fail(TORCH_ERR_INTERNAL, e.what()); }            \
  catch (...) { return csad::fail(TORCH_ERR_INTERNAL, "unknown C++ exception"); }                 \
  return csad::ok();

#endif
