/* The TensorRT shim of csad-go: a plain C interface over TensorRT's builder, ONNX parser and
 * runtime. Plain C: it never includes TensorRT or CUDA, so package trt compiles it as its cgo
 * preamble with a C compiler, and this header builds on machines without either.
 *
 * trt.cpp is compiled by package trt (trt/shim_tensorrt.cpp includes it) and only with the
 * tensorrt build tag; package csrc never compiles it.
 *
 * Every entry point that can fail returns a TrtStatus. Its log holds TensorRT's own messages
 * from that call (the logger collects per call, never into a global "last error"), so a
 * goroutine that changes OS thread between two calls cannot read another call's messages. */
#ifndef CSAD_TRT_H
#define CSAD_TRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every entry point is noexcept in C++ (trt.cpp catches everything at the boundary): declaring
 * it makes the compiler hold the definitions to it. */
#ifdef __cplusplus
#define TRT_NOEXCEPT noexcept
#else
#define TRT_NOEXCEPT
#endif

/* Error codes carried by TrtStatus.code; mirrored by trt.Code in Go. */
enum {
  TRT_OK = 0,
  TRT_ERR_INVALID = 1,       /* bad argument: batch outside the profile, sizes, names */
  TRT_ERR_PARSE = 2,         /* the ONNX parser refused the graph */
  TRT_ERR_BUILD = 3,         /* the builder could not make an engine */
  TRT_ERR_DESERIALIZE = 4,   /* the runtime refused the plan (version, GPU, damaged) */
  TRT_ERR_CUDA = 5,          /* a CUDA runtime call failed: no device, driver too old */
  TRT_ERR_OUT_OF_MEMORY = 6, /* a host or device allocation failed */
  TRT_ERR_RUN = 7,           /* setting a shape or enqueueing the engine failed */
  TRT_ERR_INTERNAL = 8       /* anything else */
};

/* msg and log are NULL or malloc'd, owned by the caller (free()). msg describes a failure;
 * log holds the messages TensorRT logged during the call, one per line, prefixed with their
 * severity ("E ", "W ", "I ", "V "). Both may be NULL when even their copy could not be
 * allocated. */
typedef struct TrtStatus {
  int code;
  char *msg;
  char *log;
} TrtStatus;

/* Opaque handles: distinct incomplete types, so Go sees one type per kind of object. */
typedef struct TrtBuilder TrtBuilder;         /* IBuilder and the network it last parsed */
typedef struct TrtTimingCache TrtTimingCache; /* ITimingCache, shared between builds */
typedef struct TrtEngine TrtEngine;           /* IRuntime + ICudaEngine */
typedef struct TrtContext TrtContext;         /* IExecutionContext, CUDA stream, buffers */
typedef struct TrtBlob TrtBlob;               /* bytes owned by TensorRT (IHostMemory) */

/* Element types; TensorRT's DataType is mapped by name in trt.cpp, never by value. */
enum {
  TRT_DTYPE_OTHER = 0,
  TRT_DTYPE_FLOAT32 = 1,
  TRT_DTYPE_FLOAT16 = 2,
  TRT_DTYPE_BFLOAT16 = 3,
  TRT_DTYPE_INT8 = 4,
  TRT_DTYPE_UINT8 = 5,
  TRT_DTYPE_INT32 = 6,
  TRT_DTYPE_INT64 = 7,
  TRT_DTYPE_BOOL = 8
};

/* Hardware compatibility levels (HardwareCompatibilityLevel by name). */
enum { TRT_HWCOMPAT_NONE = 0, TRT_HWCOMPAT_AMPERE_PLUS = 1, TRT_HWCOMPAT_SAME_COMPUTE_CAPABILITY = 2 };

/* Dims64 of TensorRT 10 and 11: at most 8 axes, -1 for a dynamic one. */
#define TRT_MAX_DIMS 8
typedef struct TrtDims {
  int32_t nb;
  int64_t d[TRT_MAX_DIMS];
} TrtDims;

/* One input or output of a network or engine. name stays valid while its builder or engine
 * lives. */
typedef struct TrtTensorInfo {
  const char *name;
  int is_input;
  int dtype;
  TrtDims shape;
} TrtTensorInfo;

/* The TensorRT library in use (lib_*) and the headers this shim was compiled against. */
typedef struct TrtVersion {
  int lib_major, lib_minor, lib_patch, lib_build;
  int header_major, header_minor, header_patch, header_build;
} TrtVersion;

/* A CUDA device, as the engine header records it. */
typedef struct TrtDeviceInfo {
  char name[256];
  int major, minor; /* compute capability */
  size_t total_memory;
  int cuda_runtime, cuda_driver; /* e.g. 12080 for 12.8 */
} TrtDeviceInfo;

typedef struct TrtBuildOptions {
  const char *input;             /* the graph input the batch profile applies to */
  int64_t min_batch, opt_batch, max_batch;
  uint64_t workspace_bytes;      /* kWORKSPACE pool limit; 0 keeps TensorRT's default */
  int fp16;                      /* TensorRT 10: BuilderFlag kFP16; TensorRT 11 ignores it (types come from the graph) */
  int tf32;                      /* leave BuilderFlag kTF32 set (TensorRT's default); 0 clears it */
  int version_compatible;        /* BuilderFlag kVERSION_COMPATIBLE */
  int hardware_compatibility;    /* TRT_HWCOMPAT_* */
  int verbose;                   /* collect kVERBOSE messages too, not just kINFO and above */
} TrtBuildOptions;

void trt_version(TrtVersion *out) TRT_NOEXCEPT;
/* The number of CUDA devices; a status, not 0, when CUDA itself fails (no driver). */
TrtStatus trt_device_count(int *out) TRT_NOEXCEPT;
TrtStatus trt_device_info(int device, TrtDeviceInfo *out) TRT_NOEXCEPT;

/* Bytes owned by TensorRT: valid until trt_blob_free. */
const void *trt_blob_data(const TrtBlob *b) TRT_NOEXCEPT;
size_t trt_blob_size(const TrtBlob *b) TRT_NOEXCEPT;
void trt_blob_free(TrtBlob *b) TRT_NOEXCEPT;

/* Builder: one IBuilder on one device; build parses the ONNX model, applies the options and a
 * timing cache (NULL for none), and returns the serialized plan. The network's inputs and
 * outputs stay readable (trt_builder_io_*) until the next build or trt_builder_free. */
TrtStatus trt_builder_new(int device, TrtBuilder **out) TRT_NOEXCEPT;
TrtStatus trt_builder_build(TrtBuilder *b, const void *onnx, size_t onnx_size, const TrtBuildOptions *opts,
                            TrtTimingCache *cache, TrtBlob **plan) TRT_NOEXCEPT;
int trt_builder_io_count(const TrtBuilder *b) TRT_NOEXCEPT;
int trt_builder_io(const TrtBuilder *b, int index, TrtTensorInfo *out) TRT_NOEXCEPT; /* 0 when index is out of range */
void trt_builder_free(TrtBuilder *b) TRT_NOEXCEPT;

/* Timing cache: from a serialized cache (size 0: an empty one); the builds that use it add
 * their timings, and serialize returns the result. Free it before the builder it came from. */
TrtStatus trt_timing_cache_new(TrtBuilder *b, const void *data, size_t size, TrtTimingCache **out) TRT_NOEXCEPT;
TrtStatus trt_timing_cache_serialize(TrtTimingCache *c, TrtBlob **out) TRT_NOEXCEPT;
void trt_timing_cache_free(TrtTimingCache *c) TRT_NOEXCEPT;

/* Engine: deserializes a plan on device. allow_host_code lets a version-compatible plan run the
 * lean runtime it carries (IRuntime::setEngineHostCodeAllowed). */
TrtStatus trt_engine_load(const void *plan, size_t size, int device, int allow_host_code, TrtEngine **out) TRT_NOEXCEPT;
int trt_engine_io_count(const TrtEngine *e) TRT_NOEXCEPT;
int trt_engine_io(const TrtEngine *e, int index, TrtTensorInfo *out) TRT_NOEXCEPT; /* 0 when index is out of range */
/* The optimization profile 0 of an input: the shapes at kMIN, kOPT and kMAX. */
TrtStatus trt_engine_profile(const TrtEngine *e, const char *input, TrtDims *min, TrtDims *opt, TrtDims *max) TRT_NOEXCEPT;
void trt_engine_free(TrtEngine *e) TRT_NOEXCEPT;

/* Context: an execution context with its own CUDA stream and device and pinned host buffers for
 * every input and output, sized once for the profile's largest batch. A context is used by one
 * thread at a time; the engine may serve many contexts at once. */
TrtStatus trt_context_new(TrtEngine *e, TrtContext **out) TRT_NOEXCEPT;
/* Runs the engine on batch samples: input (input_bytes, host memory, float32) goes to the
 * device, the outputs come back into the context's host buffers before it returns, where
 * trt_context_output finds them. input is only read during the call. */
TrtStatus trt_context_run(TrtContext *c, const void *input, size_t input_bytes, int64_t batch) TRT_NOEXCEPT;
/* Output index (in trt_engine_io order, counting outputs only) of the last run: its host data,
 * size and shape, valid until the next run or trt_context_free. 0 when index is out of range. */
int trt_context_output(const TrtContext *c, int index, const void **data, size_t *bytes, TrtDims *shape) TRT_NOEXCEPT;
/* Waits for the stream, then frees the buffers, the stream and the context. */
void trt_context_free(TrtContext *c) TRT_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif
