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

inline TorchStatus ok() { return TorchStatus{TORCH_OK, nullptr}; }

inline TorchStatus fail(int code, const std::string &msg) {
  char *m = static_cast<char *>(std::malloc(msg.size() + 1));
  if (m != nullptr) std::memcpy(m, msg.c_str(), msg.size() + 1);
  return TorchStatus{code, m};
}

inline bool contains(const std::string &s, const char *needle) { return s.find(needle) != std::string::npos; }

// Maps a c10::Error to a code. CPU allocation failures are plain c10::Errors, recognised by text.
inline TorchStatus from_c10(const c10::Error &e) {
  std::string msg = e.what_without_backtrace();
  int code = TORCH_ERR_INVALID;
  if (dynamic_cast<const c10::IndexError *>(&e) != nullptr) code = TORCH_ERR_INDEX;
  else if (dynamic_cast<const c10::TypeError *>(&e) != nullptr) code = TORCH_ERR_TYPE;
  else if (dynamic_cast<const c10::NotImplementedError *>(&e) != nullptr) code = TORCH_ERR_NOT_IMPLEMENTED;
  else if (contains(msg, "not enough memory") || contains(msg, "out of memory") ||
           contains(msg, "can't allocate memory"))
    code = TORCH_ERR_OUT_OF_MEMORY;
  else if (contains(msg, "open file failed") || contains(msg, "No such file") || contains(msg, "PytorchStreamReader"))
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

// Every entry point body sits between GUARD_BEGIN and GUARD_END so no exception crosses into C.
#define GUARD_BEGIN try {
#define GUARD_END                                                                  \
  }                                                                                \
  catch (const c10::Error &e) { return csad::from_c10(e); }                        \
  catch (const std::bad_alloc &e) { return csad::fail(TORCH_ERR_OUT_OF_MEMORY, std::string("out of memory: ") + e.what()); } \
  catch (const std::invalid_argument &e) { return csad::fail(TORCH_ERR_INVALID, e.what()); } \
  catch (const std::out_of_range &e) { return csad::fail(TORCH_ERR_INDEX, e.what()); } \
  catch (const std::runtime_error &e) { return csad::fail(TORCH_ERR_INVALID, e.what()); } \
  catch (const std::exception &e) { return csad::fail(TORCH_ERR_INTERNAL, e.what()); } \
  catch (...) { return csad::fail(TORCH_ERR_INTERNAL, "unknown C++ exception"); }   \
  return csad::ok();

#endif
