//go:build ignore

// The TensorRT shim (trt.h). The build constraint above keeps package csrc from ever compiling
// this file: package trt compiles it, with the tensorrt build tag, through
// trt/shim_tensorrt.cpp, against the TensorRT and CUDA headers that CGO_CXXFLAGS names
// (trt.mk sets them from TENSORRT_ROOT). That way the LibTorch shim builds exactly as before
// on every machine, and a binary without the tag never needs TensorRT.
//
// TensorRT's enums are used by name only: TensorRT 11 renumbered BuilderFlag and
// NetworkDefinitionCreationFlag, and removed some of their members, so nothing here depends on
// a value; where 10 and 11 differ, NV_TENSORRT_MAJOR chooses.

#include <NvInfer.h>
#include <NvOnnxParser.h>
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "trt.h"

#if !defined(NV_TENSORRT_MAJOR) || NV_TENSORRT_MAJOR < 10
#error "csad-go's TensorRT shim needs the headers of TensorRT 10 or newer: point TENSORRT_ROOT (or CGO_CXXFLAGS) at them"
#endif

using nvinfer1::ILogger;
using Severity = nvinfer1::ILogger::Severity;

// A named namespace, not an anonymous one: trt/shim_tensorrt.cpp includes this file, and GCC
// warns (-Wsubobject-linkage) when the handle structs hold types of an anonymous namespace
// from an included file.
namespace csad_trt {

// A copy with malloc, never new, so that it also works while handling std::bad_alloc; NULL
// when even that fails (the status then carries its code alone).
char *dup(const char *s, size_t n) noexcept {
  char *m = static_cast<char *>(std::malloc(n + 1));
  if (m != nullptr) {
    std::memcpy(m, s, n);
    m[n] = '\0';
  }
  return m;
}

constexpr const char kOutOfMemory[] = "a host allocation failed (std::bad_alloc); free memory or use a smaller batch";

// The order of the severities, by name: 0 is the most severe.
int rank(Severity s) noexcept {
  switch (s) {
    case Severity::kINTERNAL_ERROR: return 0;
    case Severity::kERROR: return 1;
    case Severity::kWARNING: return 2;
    case Severity::kINFO: return 3;
    case Severity::kVERBOSE: return 4;
  }
  return 4;
}

const char *prefix(Severity s) noexcept {
  switch (s) {
    case Severity::kINTERNAL_ERROR: return "F ";
    case Severity::kERROR: return "E ";
    case Severity::kWARNING: return "W ";
    case Severity::kINFO: return "I ";
    case Severity::kVERBOSE: return "V ";
  }
  return "? ";
}

// Verbose builds log tens of megabytes; a call keeps the first 8 MiB.
constexpr size_t kMaxLog = size_t(8) << 20;

class Logger;

// CallLog collects what TensorRT logs during one shim call. It is registered in a
// thread_local only for the duration of that call (the constructor and destructor bracket the
// entry point), so it is never state that outlives a call or that another call could read.
struct CallLog {
  CallLog(Logger &logger, Severity min) noexcept;
  ~CallLog();
  CallLog(const CallLog &) = delete;
  CallLog &operator=(const CallLog &) = delete;

  void add(Severity s, const char *msg) noexcept {
    try {
      if (rank(s) <= 1) {
        if (!errors.empty()) errors += "; ";
        if (errors.size() < kMaxLog) errors += msg;
      }
      if (rank(s) > rank(min)) return;
      if (text.size() >= kMaxLog) {
        truncated = true;
        return;
      }
      text += prefix(s);
      text += msg;
      text += '\n';
    } catch (...) {
      truncated = true;  // out of memory: drop the line, keep the call going
    }
  }

  TrtStatus ok() noexcept { return status(TRT_OK, nullptr); }

  // fail reports code with msg, followed by the errors TensorRT logged during the call.
  TrtStatus fail(int code, const std::string &msg) noexcept { return status(code, msg.c_str()); }
  TrtStatus fail(int code, const char *msg) noexcept { return status(code, msg); }

  TrtStatus status(int code, const char *msg) noexcept;

  Logger &logger;
  Severity min;
  std::string text, errors;
  bool truncated = false;
  CallLog *prev;
};

thread_local CallLog *tls_call = nullptr;

// Logger routes each message to the call running on the thread that logs it. Messages from
// threads of TensorRT's own (builder workers) have no call on their thread: they wait in
// orphans, under a mutex, and the next call of this logger to finish takes them. A builder has
// a logger of its own, so its workers' messages reach its build.
class Logger final : public ILogger {
 public:
  void log(Severity s, const char *msg) noexcept override {
    if (msg == nullptr) return;
    for (CallLog *c = tls_call; c != nullptr; c = c->prev) {
      if (&c->logger == this) {
        c->add(s, msg);
        return;
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    try {
      if (orphan_bytes_ < kMaxLog) {
        orphans_.push_back(s);
        orphan_text_.emplace_back(msg);
        orphan_bytes_ += orphan_text_.back().size();
      }
    } catch (...) {
    }
  }

  void drain(CallLog &c) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < orphans_.size(); i++) c.add(orphans_[i], orphan_text_[i].c_str());
    orphans_.clear();
    orphan_text_.clear();
    orphan_bytes_ = 0;
  }

 private:
  std::mutex mu_;
  std::vector<Severity> orphans_;
  std::vector<std::string> orphan_text_;
  size_t orphan_bytes_ = 0;
};

CallLog::CallLog(Logger &l, Severity m) noexcept : logger(l), min(m), prev(tls_call) { tls_call = this; }

CallLog::~CallLog() { tls_call = prev; }

TrtStatus CallLog::status(int code, const char *msg) noexcept {
  logger.drain(*this);
  TrtStatus st{code, nullptr, nullptr};
  if (code != TRT_OK) {
    try {
      std::string m = msg != nullptr ? msg : "failed";
      if (!errors.empty()) m += ": " + errors;
      st.msg = dup(m.data(), m.size());
    } catch (...) {
      if (msg != nullptr) st.msg = dup(msg, std::strlen(msg));
    }
  }
  if (truncated) {
    try {
      text += "W (csad: log truncated)\n";
    } catch (...) {
    }
  }
  if (!text.empty()) st.log = dup(text.data(), text.size());
  return st;
}

// guarded runs body and turns any C++ exception into a status of cl: no exception may unwind
// into the Go (C) frames that called the shim.
template <class F>
TrtStatus guarded(CallLog &cl, F &&body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return cl.fail(TRT_ERR_OUT_OF_MEMORY, kOutOfMemory);
  } catch (const std::exception &e) {
    return cl.fail(TRT_ERR_INTERNAL, e.what());
  } catch (...) {
    return cl.fail(TRT_ERR_INTERNAL, "unknown C++ exception");
  }
}

// A status for calls that fail before any TensorRT object (and its logger) is involved.
TrtStatus plain(int code, const char *msg) noexcept { return TrtStatus{code, dup(msg, std::strlen(msg)), nullptr}; }

std::string cuda_message(cudaError_t err, const char *what) {
  std::string m = std::string(what) + ": CUDA " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
  if (err == cudaErrorNoDevice) m += "; no CUDA device is visible (check the driver and CUDA_VISIBLE_DEVICES)";
  if (err == cudaErrorInsufficientDriver) m += "; the NVIDIA driver is older than this CUDA runtime: update it";
  return m;
}

int cuda_code(cudaError_t err) noexcept { return err == cudaErrorMemoryAllocation ? TRT_ERR_OUT_OF_MEMORY : TRT_ERR_CUDA; }

// DeviceGuard makes device current for one call and restores the caller's device: the current
// device is per OS thread, and Go moves goroutines between threads.
class DeviceGuard {
 public:
  cudaError_t enter(int device) noexcept {
    cudaError_t err = cudaGetDevice(&prev_);
    if (err != cudaSuccess) return err;
    if (prev_ == device) return cudaSuccess;
    err = cudaSetDevice(device);
    changed_ = err == cudaSuccess;
    return err;
  }
  ~DeviceGuard() {
    if (changed_) cudaSetDevice(prev_);
  }

 private:
  int prev_ = 0;
  bool changed_ = false;
};

int dtype_of(nvinfer1::DataType t) noexcept {
  using nvinfer1::DataType;
  switch (t) {
    case DataType::kFLOAT: return TRT_DTYPE_FLOAT32;
    case DataType::kHALF: return TRT_DTYPE_FLOAT16;
    case DataType::kBF16: return TRT_DTYPE_BFLOAT16;
    case DataType::kINT8: return TRT_DTYPE_INT8;
    case DataType::kUINT8: return TRT_DTYPE_UINT8;
    case DataType::kINT32: return TRT_DTYPE_INT32;
    case DataType::kINT64: return TRT_DTYPE_INT64;
    case DataType::kBOOL: return TRT_DTYPE_BOOL;
    default: return TRT_DTYPE_OTHER;  // FP8, INT4, FP4, E8M0: sub-byte or scaled, not host types
  }
}

size_t dtype_size(int dtype) noexcept {
  switch (dtype) {
    case TRT_DTYPE_FLOAT32:
    case TRT_DTYPE_INT32: return 4;
    case TRT_DTYPE_FLOAT16:
    case TRT_DTYPE_BFLOAT16: return 2;
    case TRT_DTYPE_INT8:
    case TRT_DTYPE_UINT8:
    case TRT_DTYPE_BOOL: return 1;
    case TRT_DTYPE_INT64: return 8;
  }
  return 0;
}

TrtDims to_c(const nvinfer1::Dims &d) noexcept {
  TrtDims out{};
  out.nb = d.nbDims < 0 ? -1 : (d.nbDims > TRT_MAX_DIMS ? TRT_MAX_DIMS : d.nbDims);
  for (int i = 0; i < out.nb; i++) out.d[i] = d.d[i];
  return out;
}

nvinfer1::Dims with_batch(const nvinfer1::Dims &d, int64_t batch) noexcept {
  nvinfer1::Dims out = d;
  if (out.nbDims > 0) out.d[0] = batch;
  return out;
}

std::string dims_string(const nvinfer1::Dims &d) {
  std::string s = "(";
  for (int i = 0; i < d.nbDims; i++) {
    if (i > 0) s += ",";
    s += std::to_string(d.d[i]);
  }
  return s + ")";
}

// The elements of a fully known shape; -1 when an axis is dynamic or data-dependent.
int64_t volume(const nvinfer1::Dims &d) noexcept {
  if (d.nbDims < 0) return -1;
  int64_t n = 1;
  for (int i = 0; i < d.nbDims; i++) {
    if (d.d[i] < 0) return -1;
    n *= d.d[i];
  }
  return n;
}

TrtTensorInfo info_of(const char *name, bool input, nvinfer1::DataType t, const nvinfer1::Dims &d) noexcept {
  TrtTensorInfo i{};
  i.name = name;
  i.is_input = input ? 1 : 0;
  i.dtype = dtype_of(t);
  i.shape = to_c(d);
  return i;
}

}  // namespace csad_trt

using namespace csad_trt;

struct TrtBlob {
  std::unique_ptr<nvinfer1::IHostMemory> mem;
};

// Members are destroyed in reverse order: the parser (which holds the weights the network
// points at) before the network, both before the builder, and the logger last.
struct TrtBuilder {
  int device = 0;
  Logger logger;
  std::unique_ptr<nvinfer1::IBuilder> builder;
  std::unique_ptr<nvinfer1::INetworkDefinition> network;
  std::unique_ptr<nvonnxparser::IParser> parser;
  std::vector<TrtTensorInfo> io;
};

struct TrtTimingCache {
  std::unique_ptr<nvinfer1::ITimingCache> cache;
};

// The engine before the runtime that deserialized it, the logger last.
struct TrtEngine {
  int device = 0;
  Logger logger;
  std::unique_ptr<nvinfer1::IRuntime> runtime;
  std::unique_ptr<nvinfer1::ICudaEngine> engine;
  std::vector<TrtTensorInfo> io;
};

namespace csad_trt {

struct Binding {
  TrtTensorInfo info{};
  size_t elem = 0;
  size_t capacity = 0;  // bytes of dev and host, for the profile's largest batch
  void *dev = nullptr;
  void *host = nullptr;  // pinned, so that the copies are asynchronous on the stream
  size_t bytes = 0;      // of the last run
  TrtDims shape{};       // of the last run
};

}  // namespace csad_trt

struct TrtContext {
  TrtEngine *engine = nullptr;
  std::unique_ptr<nvinfer1::IExecutionContext> ctx;
  cudaStream_t stream = nullptr;
  std::vector<Binding> io;
  int input = -1;
  std::vector<int> outputs;
  nvinfer1::Dims max_input{};
  int64_t min_batch = 0, max_batch = 0;

  ~TrtContext() {
    DeviceGuard g;
    g.enter(engine->device);
    if (stream != nullptr) cudaStreamSynchronize(stream);
    ctx.reset();
    for (Binding &b : io) {
      if (b.dev != nullptr) cudaFree(b.dev);
      if (b.host != nullptr) cudaFreeHost(b.host);
    }
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
};

extern "C" {

void trt_version(TrtVersion *out) noexcept {
  out->lib_major = getInferLibMajorVersion();
  out->lib_minor = getInferLibMinorVersion();
  out->lib_patch = getInferLibPatchVersion();
  out->lib_build = getInferLibBuildVersion();
  out->header_major = NV_TENSORRT_MAJOR;
  out->header_minor = NV_TENSORRT_MINOR;
  out->header_patch = NV_TENSORRT_PATCH;
  out->header_build = NV_TENSORRT_BUILD;
}

TrtStatus trt_device_count(int *out) noexcept {
  *out = 0;
  cudaError_t err = cudaGetDeviceCount(out);
  if (err == cudaErrorNoDevice) {
    *out = 0;
    cudaGetLastError();  // clear it, so that it is not reported by a later call
    return TrtStatus{TRT_OK, nullptr, nullptr};
  }
  if (err != cudaSuccess) {
    try {
      std::string m = cuda_message(err, "count CUDA devices");
      return TrtStatus{cuda_code(err), dup(m.data(), m.size()), nullptr};
    } catch (...) {
      return plain(TRT_ERR_CUDA, "count CUDA devices: CUDA failed");
    }
  }
  return TrtStatus{TRT_OK, nullptr, nullptr};
}

TrtStatus trt_device_info(int device, TrtDeviceInfo *out) noexcept {
  std::memset(out, 0, sizeof(*out));
  try {
    cudaDeviceProp p;
    std::memset(&p, 0, sizeof(p));
    cudaError_t err = cudaGetDeviceProperties(&p, device);
    if (err != cudaSuccess) {
      std::string m = cuda_message(err, ("read the properties of CUDA device " + std::to_string(device)).c_str());
      return TrtStatus{cuda_code(err), dup(m.data(), m.size()), nullptr};
    }
    std::snprintf(out->name, sizeof(out->name), "%s", p.name);
    out->major = p.major;
    out->minor = p.minor;
    out->total_memory = p.totalGlobalMem;
    cudaRuntimeGetVersion(&out->cuda_runtime);
    cudaDriverGetVersion(&out->cuda_driver);
    return TrtStatus{TRT_OK, nullptr, nullptr};
  } catch (...) {
    return plain(TRT_ERR_OUT_OF_MEMORY, kOutOfMemory);
  }
}

const void *trt_blob_data(const TrtBlob *b) noexcept { return b->mem->data(); }
size_t trt_blob_size(const TrtBlob *b) noexcept { return b->mem->size(); }
void trt_blob_free(TrtBlob *b) noexcept { delete b; }

TrtStatus trt_builder_new(int device, TrtBuilder **out) noexcept {
  *out = nullptr;
  TrtBuilder *b = new (std::nothrow) TrtBuilder;
  if (b == nullptr) return plain(TRT_ERR_OUT_OF_MEMORY, kOutOfMemory);
  b->device = device;
  TrtStatus st;
  {
    CallLog cl(b->logger, Severity::kINFO);
    st = guarded(cl, [&]() -> TrtStatus {
      DeviceGuard g;
      if (cudaError_t err = g.enter(device); err != cudaSuccess)
        return cl.fail(cuda_code(err), cuda_message(err, ("use CUDA device " + std::to_string(device)).c_str()));
      b->builder.reset(nvinfer1::createInferBuilder(b->logger));
      if (!b->builder) return cl.fail(TRT_ERR_INTERNAL, "create a TensorRT builder");
      return cl.ok();
    });
  }
  if (st.code != TRT_OK) {
    delete b;
    return st;
  }
  *out = b;
  return st;
}

TrtStatus trt_builder_build(TrtBuilder *b, const void *onnx, size_t onnx_size, const TrtBuildOptions *o,
                            TrtTimingCache *cache, TrtBlob **plan) noexcept {
  *plan = nullptr;
  CallLog cl(b->logger, o->verbose ? Severity::kVERBOSE : Severity::kINFO);
  return guarded(cl, [&]() -> TrtStatus {
    using namespace nvinfer1;
    DeviceGuard g;
    if (cudaError_t err = g.enter(b->device); err != cudaSuccess)
      return cl.fail(cuda_code(err), cuda_message(err, ("use CUDA device " + std::to_string(b->device)).c_str()));
    b->io.clear();
    b->parser.reset();
    b->network.reset();
    // No creation flag: TensorRT 10 networks are always explicit-batch (kEXPLICIT_BATCH is
    // deprecated and ignored) and weakly typed, so kFP16 below may choose half precision;
    // TensorRT 11 networks are always strongly typed (kSTRONGLY_TYPED is deprecated), so the
    // graph's own types decide.
    b->network.reset(b->builder->createNetworkV2(0U));
    if (!b->network) return cl.fail(TRT_ERR_INTERNAL, "create a network definition");
    b->parser.reset(nvonnxparser::createParser(*b->network, b->logger));
    if (!b->parser) return cl.fail(TRT_ERR_INTERNAL, "create the ONNX parser");
    if (!b->parser->parse(onnx, onnx_size)) {
      std::string m = "the ONNX parser refused the graph";
      for (int i = 0; i < b->parser->getNbErrors(); i++) {
        const nvonnxparser::IParserError *e = b->parser->getError(i);
        m += i == 0 ? ": " : "; ";
        if (e->node() >= 0) {
          m += "node " + std::to_string(e->node());
          if (e->nodeName() != nullptr && e->nodeName()[0] != '\0') m += std::string(" ") + e->nodeName();
          if (e->nodeOperator() != nullptr && e->nodeOperator()[0] != '\0') m += std::string(" (") + e->nodeOperator() + ")";
          m += ": ";
        }
        m += e->desc();
      }
      return cl.fail(TRT_ERR_PARSE, m);
    }
    INetworkDefinition &net = *b->network;
    ITensor *input = nullptr;
    std::string names;
    for (int i = 0; i < net.getNbInputs(); i++) {
      ITensor *t = net.getInput(i);
      b->io.push_back(info_of(t->getName(), true, t->getType(), t->getDimensions()));
      names += (i == 0 ? "" : ", ") + std::string(t->getName());
      if (std::strcmp(t->getName(), o->input) == 0) input = t;
    }
    for (int i = 0; i < net.getNbOutputs(); i++) {
      ITensor *t = net.getOutput(i);
      b->io.push_back(info_of(t->getName(), false, t->getType(), t->getDimensions()));
    }
    if (input == nullptr)
      return cl.fail(TRT_ERR_INVALID, std::string("the graph has no input \"") + o->input + "\" (its inputs: " + names + ")");
    Dims d = input->getDimensions();
    if (d.nbDims < 1) return cl.fail(TRT_ERR_INVALID, std::string("input \"") + o->input + "\" has no batch axis");
    for (int i = 1; i < d.nbDims; i++) {
      if (d.d[i] < 0)
        return cl.fail(TRT_ERR_INVALID, std::string("input \"") + o->input + "\" has the shape " + dims_string(d) +
                                            ": only the batch axis (the first) may be dynamic");
    }
    if (d.d[0] >= 0 && (o->min_batch != d.d[0] || o->max_batch != d.d[0]))
      return cl.fail(TRT_ERR_INVALID, std::string("input \"") + o->input + "\" has a fixed batch of " +
                                          std::to_string(d.d[0]) + ": export the graph with a dynamic batch axis");
    std::unique_ptr<IBuilderConfig> config(b->builder->createBuilderConfig());
    if (!config) return cl.fail(TRT_ERR_INTERNAL, "create a builder config");
    IOptimizationProfile *profile = b->builder->createOptimizationProfile();  // owned by the builder
    if (profile == nullptr) return cl.fail(TRT_ERR_INTERNAL, "create an optimization profile");
    if (!profile->setDimensions(o->input, OptProfileSelector::kMIN, with_batch(d, o->min_batch)) ||
        !profile->setDimensions(o->input, OptProfileSelector::kOPT, with_batch(d, o->opt_batch)) ||
        !profile->setDimensions(o->input, OptProfileSelector::kMAX, with_batch(d, o->max_batch)))
      return cl.fail(TRT_ERR_INVALID, "set the batch profile (need 1 <= min <= opt <= max)");
    if (config->addOptimizationProfile(profile) < 0) return cl.fail(TRT_ERR_INVALID, "add the batch profile");
    if (o->workspace_bytes > 0) config->setMemoryPoolLimit(MemoryPoolType::kWORKSPACE, o->workspace_bytes);
    if (!o->tf32) config->clearFlag(BuilderFlag::kTF32);
#if NV_TENSORRT_MAJOR < 11
    if (o->fp16) {
      // Deprecated in 10 (strong typing is the way forward) and gone in 11, where the FP16
      // graph alone says it; for a weakly typed TensorRT 10 network it is what allows
      // half-precision kernels.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      config->setFlag(BuilderFlag::kFP16);
#pragma GCC diagnostic pop
    }
#endif
    if (o->version_compatible) config->setFlag(BuilderFlag::kVERSION_COMPATIBLE);
    switch (o->hardware_compatibility) {
      case TRT_HWCOMPAT_NONE: config->setHardwareCompatibilityLevel(HardwareCompatibilityLevel::kNONE); break;
      case TRT_HWCOMPAT_AMPERE_PLUS:
        config->setHardwareCompatibilityLevel(HardwareCompatibilityLevel::kAMPERE_PLUS);
        break;
      case TRT_HWCOMPAT_SAME_COMPUTE_CAPABILITY:
        config->setHardwareCompatibilityLevel(HardwareCompatibilityLevel::kSAME_COMPUTE_CAPABILITY);
        break;
      default: return cl.fail(TRT_ERR_INVALID, "unknown hardware compatibility level");
    }
    if (cache != nullptr && !config->setTimingCache(*cache->cache, false))
      return cl.fail(TRT_ERR_INVALID,
                     "the timing cache was made on another GPU or TensorRT version: delete it or use another file");
    std::unique_ptr<IHostMemory> mem(b->builder->buildSerializedNetwork(net, *config));
    if (!mem || mem->size() == 0) return cl.fail(TRT_ERR_BUILD, "TensorRT could not build an engine");
    TrtBlob *blob = new TrtBlob;
    blob->mem = std::move(mem);
    *plan = blob;
    return cl.ok();
  });
}

int trt_builder_io_count(const TrtBuilder *b) noexcept { return static_cast<int>(b->io.size()); }

int trt_builder_io(const TrtBuilder *b, int index, TrtTensorInfo *out) noexcept {
  if (index < 0 || index >= static_cast<int>(b->io.size())) return 0;
  *out = b->io[index];
  return 1;
}

void trt_builder_free(TrtBuilder *b) noexcept {
  if (b == nullptr) return;
  DeviceGuard g;
  g.enter(b->device);
  delete b;
}

TrtStatus trt_timing_cache_new(TrtBuilder *b, const void *data, size_t size, TrtTimingCache **out) noexcept {
  *out = nullptr;
  CallLog cl(b->logger, Severity::kWARNING);
  return guarded(cl, [&]() -> TrtStatus {
    DeviceGuard g;
    if (cudaError_t err = g.enter(b->device); err != cudaSuccess)
      return cl.fail(cuda_code(err), cuda_message(err, ("use CUDA device " + std::to_string(b->device)).c_str()));
    // A timing cache belongs to no config: this one only makes it.
    std::unique_ptr<nvinfer1::IBuilderConfig> config(b->builder->createBuilderConfig());
    if (!config) return cl.fail(TRT_ERR_INTERNAL, "create a builder config");
    std::unique_ptr<nvinfer1::ITimingCache> c(config->createTimingCache(size > 0 ? data : nullptr, size));
    if (!c) return cl.fail(TRT_ERR_INVALID, "not a TensorRT timing cache (or one from another TensorRT version)");
    TrtTimingCache *tc = new TrtTimingCache;
    tc->cache = std::move(c);
    *out = tc;
    return cl.ok();
  });
}

TrtStatus trt_timing_cache_serialize(TrtTimingCache *c, TrtBlob **out) noexcept {
  *out = nullptr;
  try {
    std::unique_ptr<nvinfer1::IHostMemory> mem(c->cache->serialize());
    if (!mem) return plain(TRT_ERR_INTERNAL, "serialize the timing cache");
    TrtBlob *blob = new TrtBlob;
    blob->mem = std::move(mem);
    *out = blob;
    return TrtStatus{TRT_OK, nullptr, nullptr};
  } catch (...) {
    return plain(TRT_ERR_OUT_OF_MEMORY, kOutOfMemory);
  }
}

void trt_timing_cache_free(TrtTimingCache *c) noexcept { delete c; }

TrtStatus trt_engine_load(const void *plan, size_t size, int device, int allow_host_code, TrtEngine **out) noexcept {
  *out = nullptr;
  TrtEngine *e = new (std::nothrow) TrtEngine;
  if (e == nullptr) return plain(TRT_ERR_OUT_OF_MEMORY, kOutOfMemory);
  e->device = device;
  TrtStatus st;
  {
    CallLog cl(e->logger, Severity::kWARNING);
    st = guarded(cl, [&]() -> TrtStatus {
      DeviceGuard g;
      if (cudaError_t err = g.enter(device); err != cudaSuccess)
        return cl.fail(cuda_code(err), cuda_message(err, ("use CUDA device " + std::to_string(device)).c_str()));
      e->runtime.reset(nvinfer1::createInferRuntime(e->logger));
      if (!e->runtime) return cl.fail(TRT_ERR_INTERNAL, "create a TensorRT runtime");
      if (allow_host_code) e->runtime->setEngineHostCodeAllowed(true);
      e->engine.reset(e->runtime->deserializeCudaEngine(plan, size));
      if (!e->engine) return cl.fail(TRT_ERR_DESERIALIZE, "TensorRT could not deserialize the plan");
      for (int i = 0; i < e->engine->getNbIOTensors(); i++) {
        const char *name = e->engine->getIOTensorName(i);
        nvinfer1::TensorIOMode mode = e->engine->getTensorIOMode(name);
        if (mode != nvinfer1::TensorIOMode::kINPUT && mode != nvinfer1::TensorIOMode::kOUTPUT) continue;
        e->io.push_back(info_of(name, mode == nvinfer1::TensorIOMode::kINPUT, e->engine->getTensorDataType(name),
                                e->engine->getTensorShape(name)));
      }
      return cl.ok();
    });
  }
  if (st.code != TRT_OK) {
    trt_engine_free(e);
    return st;
  }
  *out = e;
  return st;
}

int trt_engine_io_count(const TrtEngine *e) noexcept { return static_cast<int>(e->io.size()); }

int trt_engine_io(const TrtEngine *e, int index, TrtTensorInfo *out) noexcept {
  if (index < 0 || index >= static_cast<int>(e->io.size())) return 0;
  *out = e->io[index];
  return 1;
}

TrtStatus trt_engine_profile(const TrtEngine *e, const char *input, TrtDims *min, TrtDims *opt, TrtDims *max) noexcept {
  using nvinfer1::OptProfileSelector;
  if (e->engine->getNbOptimizationProfiles() < 1) return plain(TRT_ERR_INVALID, "the engine has no optimization profile");
  nvinfer1::Dims lo = e->engine->getProfileShape(input, 0, OptProfileSelector::kMIN);
  nvinfer1::Dims mid = e->engine->getProfileShape(input, 0, OptProfileSelector::kOPT);
  nvinfer1::Dims hi = e->engine->getProfileShape(input, 0, OptProfileSelector::kMAX);
  if (lo.nbDims < 1 || mid.nbDims != lo.nbDims || hi.nbDims != lo.nbDims)
    return plain(TRT_ERR_INVALID, "the engine's profile 0 has no shapes for this input");
  *min = to_c(lo);
  *opt = to_c(mid);
  *max = to_c(hi);
  return TrtStatus{TRT_OK, nullptr, nullptr};
}

void trt_engine_free(TrtEngine *e) noexcept {
  if (e == nullptr) return;
  DeviceGuard g;
  g.enter(e->device);
  e->engine.reset();
  e->runtime.reset();
  delete e;
}

TrtStatus trt_context_new(TrtEngine *e, TrtContext **out) noexcept {
  *out = nullptr;
  CallLog cl(e->logger, Severity::kWARNING);
  TrtContext *c = nullptr;
  TrtStatus st = guarded(cl, [&]() -> TrtStatus {
    using namespace nvinfer1;
    DeviceGuard g;
    if (cudaError_t err = g.enter(e->device); err != cudaSuccess)
      return cl.fail(cuda_code(err), cuda_message(err, ("use CUDA device " + std::to_string(e->device)).c_str()));
    c = new TrtContext;
    c->engine = e;
    c->ctx.reset(e->engine->createExecutionContext());
    if (!c->ctx) return cl.fail(TRT_ERR_OUT_OF_MEMORY, "create an execution context (device memory for activations)");
    if (cudaError_t err = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking); err != cudaSuccess)
      return cl.fail(cuda_code(err), cuda_message(err, "create a CUDA stream"));
    for (const TrtTensorInfo &t : e->io) {
      Binding b;
      b.info = t;
      b.elem = dtype_size(t.dtype);
      if (b.elem == 0)
        return cl.fail(TRT_ERR_INVALID, std::string("tensor \"") + t.name + "\" has an element type with no host equivalent");
      if (t.is_input) {
        if (c->input >= 0) return cl.fail(TRT_ERR_INVALID, "the engine has more than one input; csad engines have one");
        c->input = static_cast<int>(c->io.size());
      } else {
        c->outputs.push_back(static_cast<int>(c->io.size()));
      }
      c->io.push_back(b);
    }
    if (c->input < 0) return cl.fail(TRT_ERR_INVALID, "the engine has no input");
    const char *in = c->io[c->input].info.name;
    if (e->engine->getNbOptimizationProfiles() < 1) return cl.fail(TRT_ERR_INVALID, "the engine has no optimization profile");
    Dims lo = e->engine->getProfileShape(in, 0, OptProfileSelector::kMIN);
    c->max_input = e->engine->getProfileShape(in, 0, OptProfileSelector::kMAX);
    if (lo.nbDims < 1 || c->max_input.nbDims != lo.nbDims)
      return cl.fail(TRT_ERR_INVALID, "the engine's profile has no shapes for its input");
    c->min_batch = lo.d[0];
    c->max_batch = c->max_input.d[0];
    // The buffers are sized once, for the largest batch: the output shapes TensorRT infers
    // for the profile's maximum input.
    if (!c->ctx->setInputShape(in, c->max_input))
      return cl.fail(TRT_ERR_RUN, "set the input shape " + dims_string(c->max_input));
    for (Binding &b : c->io) {
      Dims d = c->ctx->getTensorShape(b.info.name);
      int64_t n = volume(d);
      if (n < 0)
        return cl.fail(TRT_ERR_INVALID, std::string("tensor \"") + b.info.name + "\" has the data-dependent shape " +
                                            dims_string(d) + ", which needs output allocators");
      b.capacity = static_cast<size_t>(n) * b.elem;
      size_t alloc = b.capacity > 0 ? b.capacity : 1;
      if (cudaError_t err = cudaMalloc(&b.dev, alloc); err != cudaSuccess)
        return cl.fail(cuda_code(err), cuda_message(err, (std::string("allocate the device buffer of \"") + b.info.name + "\"").c_str()));
      if (cudaError_t err = cudaMallocHost(&b.host, alloc); err != cudaSuccess)
        return cl.fail(cuda_code(err), cuda_message(err, (std::string("allocate the pinned host buffer of \"") + b.info.name + "\"").c_str()));
      if (!c->ctx->setTensorAddress(b.info.name, b.dev))
        return cl.fail(TRT_ERR_RUN, std::string("bind the device buffer of \"") + b.info.name + "\"");
    }
    return cl.ok();
  });
  if (st.code != TRT_OK) {
    delete c;
    return st;
  }
  *out = c;
  return st;
}

TrtStatus trt_context_run(TrtContext *c, const void *input, size_t input_bytes, int64_t batch) noexcept {
  CallLog cl(c->engine->logger, Severity::kWARNING);
  return guarded(cl, [&]() -> TrtStatus {
    if (batch < c->min_batch || batch > c->max_batch)
      return cl.fail(TRT_ERR_INVALID, "batch " + std::to_string(batch) + " is outside the engine's profile [" +
                                          std::to_string(c->min_batch) + ", " + std::to_string(c->max_batch) + "]");
    Binding &in = c->io[c->input];
    nvinfer1::Dims d = with_batch(c->max_input, batch);
    size_t want = static_cast<size_t>(volume(d)) * in.elem;
    if (input_bytes != want)
      return cl.fail(TRT_ERR_INVALID, "the input of batch " + std::to_string(batch) + " " + dims_string(d) + " has " +
                                          std::to_string(want) + " bytes, got " + std::to_string(input_bytes));
    DeviceGuard g;
    if (cudaError_t err = g.enter(c->engine->device); err != cudaSuccess)
      return cl.fail(cuda_code(err), cuda_message(err, ("use CUDA device " + std::to_string(c->engine->device)).c_str()));
    if (!c->ctx->setInputShape(in.info.name, d)) return cl.fail(TRT_ERR_RUN, "set the input shape " + dims_string(d));
    in.bytes = want;
    in.shape = to_c(d);
    for (int i : c->outputs) {
      Binding &b = c->io[i];
      nvinfer1::Dims od = c->ctx->getTensorShape(b.info.name);
      int64_t n = volume(od);
      if (n < 0 || static_cast<size_t>(n) * b.elem > b.capacity)
        return cl.fail(TRT_ERR_INTERNAL, std::string("output \"") + b.info.name + "\" has the shape " + dims_string(od) +
                                             ", larger than its buffer for the profile's maximum");
      b.bytes = static_cast<size_t>(n) * b.elem;
      b.shape = to_c(od);
    }
    std::memcpy(in.host, input, want);
    if (cudaError_t err = cudaMemcpyAsync(in.dev, in.host, want, cudaMemcpyHostToDevice, c->stream); err != cudaSuccess)
      return cl.fail(cuda_code(err), cuda_message(err, "copy the input to the device"));
    if (!c->ctx->enqueueV3(c->stream)) {
      cudaStreamSynchronize(c->stream);
      return cl.fail(TRT_ERR_RUN, "TensorRT could not enqueue the engine");
    }
    for (int i : c->outputs) {
      Binding &b = c->io[i];
      if (b.bytes == 0) continue;
      if (cudaError_t err = cudaMemcpyAsync(b.host, b.dev, b.bytes, cudaMemcpyDeviceToHost, c->stream); err != cudaSuccess) {
        cudaStreamSynchronize(c->stream);
        return cl.fail(cuda_code(err), cuda_message(err, "copy an output to the host"));
      }
    }
    if (cudaError_t err = cudaStreamSynchronize(c->stream); err != cudaSuccess)
      return cl.fail(cuda_code(err), cuda_message(err, "run the engine"));
    return cl.ok();
  });
}

int trt_context_output(const TrtContext *c, int index, const void **data, size_t *bytes, TrtDims *shape) noexcept {
  if (index < 0 || index >= static_cast<int>(c->outputs.size())) return 0;
  const Binding &b = c->io[c->outputs[index]];
  *data = b.host;
  *bytes = b.bytes;
  *shape = b.shape;
  return 1;
}

void trt_context_free(TrtContext *c) noexcept { delete c; }

}  // extern "C"
